"""``zoo serve``: checkpoints behind an HTTP API (``/v1``, ``/v2``, ``/metrics``) and a page to try them."""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import replace

import typer

from zoo.cli.app import app, err, out
from zoo.serve.options import DEFAULTS, ServeOptions


@app.command("serve")
def serve_cmd(
    checkpoints: list[str] = typer.Argument(
        ...,
        metavar="[NAME=]REF...",
        help="Models to serve: .safetensors checkpoints, run folders or NAME[:TAG] published weights; "
        "NAME=REF serves one under NAME (its URLs and the page's button), e.g. letters=runs/vision.cnn/latest.",
    ),
    host: str = typer.Option(DEFAULTS.host, "--host", help="Address to listen on; 0.0.0.0 exposes it to the network."),
    port: int = typer.Option(DEFAULTS.port, min=0, max=65535, help="TCP port, e.g. --port 8080; 0 picks a free one."),
    max_body: int = typer.Option(DEFAULTS.max_body, "--max-body", min=1024, help="Largest request body in bytes."),
    allow_host: list[str] = typer.Option(
        list(DEFAULTS.allow_hosts),
        "--allow-host",
        help="Another name clients may use for this server in their Host header (repeatable), "
        "e.g. --allow-host myhost.lan; '*' accepts any. Loopback names and --host are always accepted.",
    ),
    timeout: float = typer.Option(
        DEFAULTS.timeout, min=0.001, max=3600, help="Seconds one prediction may take before it gets an error (504)."
    ),
    max_batch_size: int = typer.Option(
        DEFAULTS.max_batch, min=1, max=1024, help="Rows one forward pass may merge from /v2 requests; 1: off."
    ),
    max_latency_ms: float = typer.Option(
        DEFAULTS.max_latency * 1000, min=0, max=1000, help="Milliseconds a batch may wait for more /v2 requests."
    ),
    max_queue: int = typer.Option(
        DEFAULTS.max_queue, min=1, max=100_000, help="Requests that may wait per model; more get 503 + Retry-After."
    ),
) -> None:
    """Serve models: /v1 (zoo's JSON API), /v2 (Open Inference Protocol), /metrics, and a page at /.

    Example: zoo serve vision.cnn mine=runs/tabular.diabetes/latest --port 8000, then open http://127.0.0.1:8000/
    """
    options = ServeOptions(
        host=host,
        port=port,
        allow_hosts=tuple(allow_host),
        max_body=max_body,
        timeout=timeout,
        max_batch=max_batch_size,
        max_latency=max_latency_ms / 1000,
        max_queue=max_queue,
    )
    serve(checkpoints, options)


def serve(checkpoints: list[str], options: ServeOptions) -> None:
    """Load the models, bind the port, print the address and serve until SIGTERM or Ctrl-C."""
    from zoo.serve import require_serve_extra

    require_serve_extra()
    _set_threads()
    from zoo.serve import load_models
    from zoo.serve.app import create_app
    from zoo.serve.guard import url_host
    from zoo.serve.server import bind, bound_port, run

    served = load_models(checkpoints)
    sock = bind(options.host, options.port)
    options = replace(options, port=bound_port(sock))  # --port 0: the port the system picked
    if not _is_loopback(options.host):
        err.print(f"warning: listening on {options.host}: anyone who can reach this machine can use the models")
        if not options.allow_hosts:
            err.print("  clients must call it by that address, or start it with --allow-host NAME")
    out.print(f"serving {', '.join(served)} on http://{url_host(options.host)}:{options.port}/ (Ctrl-C to stop)")
    sys.stdout.flush()  # the address is read by scripts while the server runs
    application = create_app(served, options)
    plane = application.plane

    def stopping(sig: int) -> None:
        plane.stopping = True
        err.print(f"stopping: no new connections; answering the {plane.in_progress} request(s) in progress first")
        sys.stderr.flush()

    try:
        run(application, sock, drain=options.timeout, on_stop=stopping)
    finally:
        application.close()
    err.print("stopped")


def _set_threads() -> None:
    """torch's threads for this machine: the CPUs this process may use, unless OMP_NUM_THREADS says otherwise."""
    if os.environ.get("OMP_NUM_THREADS"):
        return
    import torch

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    torch.set_num_threads(max(1, cpus))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
