"""The Starlette application behind ``zoo serve``: ``/v1`` JSON and uploads, ``/v2`` tensors, ``/metrics``, the page.

The endpoints (``serve.v1``, ``serve.v2``) are thin: each reads its request and calls the
data plane (``serve.dataplane``), which runs every prediction on its model's worker thread
(``serve.batcher``): one job at a time per model, a bounded queue in front (503 with
``Retry-After`` when it is full), each request answered within ``--timeout`` (504 past it).
Every error, whichever route raised it, is answered through one table (``serve.errortable``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zoo.errors import ZooError
from zoo.serve import v1, v2
from zoo.serve.dataplane import DataPlane
from zoo.serve.errortable import INTERNAL, NotFound, ServeError, body
from zoo.serve.guard import HostGuard, allowed_hosts
from zoo.serve.http import HEADERS, error_response
from zoo.serve.metrics import Metrics
from zoo.serve.models import Served, log
from zoo.serve.options import ServeOptions

PAGE_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'",
}
STATIC = Path(__file__).parent / "static"


class ServeApp(HostGuard):
    """The guarded app, with the data plane its routes share and a way to stop the model workers."""

    def __init__(self, app: Any, options: ServeOptions, plane: DataPlane) -> None:
        super().__init__(app, allowed_hosts(options.host, options.allow_hosts), options.port)
        self.plane = plane

    def close(self) -> None:
        """Stop every model's worker after the jobs it already holds."""
        self.plane.close()


def create_app(served: dict[str, Served], options: ServeOptions | None = None) -> ServeApp:
    """An app serving ``served`` as ``options`` say (the defaults of ``zoo serve`` when none are given)."""
    options = options or ServeOptions()
    metrics = Metrics()
    plane = DataPlane(served, options, metrics)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "models": len(served)}, headers=HEADERS)

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.text(), media_type=metrics.content_type, headers=HEADERS)

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/metrics", metrics_page),
        *v1.routes(plane),
        *v2.routes(plane),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {ServeError: _known_error, ZooError: _known_error, HTTPException: _http_error, Exception: _server_error}
    return ServeApp(Starlette(routes=routes, exception_handlers=handlers), options, plane)


async def _known_error(request: Request, exc: Exception) -> Response:
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals: no such route (the table's 404) or a method the route does not take."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound(f"no route {request.url.path[:100]!r} here; GET /v1/models lists the models"))
    code = "method_not_allowed" if exc.status_code == 405 else "http_error"
    return JSONResponse(body(str(exc.detail), None, code), status_code=exc.status_code, headers=HEADERS)


async def _server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ClientDisconnect):
        return Response(status_code=400)
    log.exception("error while answering %s %s", request.method, request.url.path)
    status, code, message = INTERNAL
    return JSONResponse(body(message, None, code), status_code=status, headers=HEADERS)
