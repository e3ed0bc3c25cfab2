"""``zoo serve``: checkpoints behind an HTTP API and a page to try them."""

from __future__ import annotations

import ipaddress
import sys

import typer

from zoo.cli.app import app, err, out


@app.command("serve")
def serve_cmd(
    checkpoints: list[str] = typer.Argument(..., help="One or more .safetensors checkpoints to serve."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 exposes it to the network."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port, e.g. --port 8080; 0 picks a free one."),
    max_body: int = typer.Option(2 * 1024 * 1024, "--max-body", min=1024, help="Largest request body in bytes."),
    allow_host: list[str] = typer.Option(
        [],
        "--allow-host",
        help="Another name clients may use for this server in their Host header (repeatable), "
        "e.g. --allow-host myhost.lan; '*' accepts any. Loopback names and --host are always accepted.",
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", min=0.001, max=3600, help="Seconds one prediction may take before it gets an error (504)."
    ),
) -> None:
    """Serve checkpoints: POST /v1/models/NAME/predict, GET /v1/models, GET /healthz, and a page at /.

    Example: zoo serve runs/vision.cnn/RUN/best.safetensors --port 8000, then open http://127.0.0.1:8000/
    """
    from zoo.serve import require_serve_extra

    require_serve_extra()
    from zoo.serve import load_models
    from zoo.serve.app import create_app
    from zoo.serve.guard import url_host
    from zoo.serve.server import bind, bound_port, run

    served = load_models(checkpoints)
    sock = bind(host, port)
    real_port = bound_port(sock)
    if not _is_loopback(host):
        err.print(f"warning: listening on {host}: anyone who can reach this machine can use the models")
        if not allow_host:
            err.print("  clients must call it by that address, or start it with --allow-host NAME")
    names = ", ".join(served)
    out.print(f"serving {names} on http://{url_host(host)}:{real_port}/ (Ctrl-C to stop)")
    sys.stdout.flush()  # the address is read by scripts while the server runs
    application = create_app(
        served, max_body, host=host, port=real_port, allow_hosts=tuple(allow_host), timeout=timeout
    )
    run(application, sock)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
