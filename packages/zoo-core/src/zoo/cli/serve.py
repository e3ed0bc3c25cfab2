"""``zoo serve``: checkpoints behind an HTTP API and a page to try them."""

from __future__ import annotations

import ipaddress
import socket

import typer

from zoo.cli.app import app, err, out
from zoo.errors import UsageError


@app.command("serve")
def serve_cmd(
    checkpoints: list[str] = typer.Argument(..., help="One or more .safetensors checkpoints to serve."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 exposes it to the network."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port, e.g. --port 8080."),
    max_body: int = typer.Option(2 * 1024 * 1024, "--max-body", min=1024, help="Largest request body in bytes."),
) -> None:
    """Serve checkpoints: POST /v1/models/NAME/predict, GET /v1/models, GET /healthz, and a page at /.

    Example: zoo serve runs/vision.cnn/RUN/best.safetensors --port 8000, then open http://127.0.0.1:8000/
    """
    from zoo.serve import require_serve_extra

    require_serve_extra()
    import uvicorn

    from zoo.serve import load_models
    from zoo.serve.app import create_app

    served = load_models(checkpoints)
    _check_port(host, port)
    if not _is_loopback(host):
        err.print(f"warning: listening on {host}: anyone who can reach this machine can use the models")
    names = ", ".join(served)
    out.print(f"serving {names} on http://{host}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(create_app(served, max_body), host=host, port=port, log_level="warning", access_log=False)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _check_port(host: str, port: int) -> None:
    """Fail with one line when the address is taken, before uvicorn logs its own error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot resolve --host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --port") from None
