"""The Starlette application behind ``zoo serve``: JSON API, multipart uploads and the page.

Predictions (decoding uploads included) run in a small pool of their own, at most
MAX_PREDICTIONS at once, each answered within a time limit; the rest wait their turn, so
a burst of requests queues instead of multiplying memory and CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zoo.errors import DataError, UsageError, ZooError
from zoo.readfile import parse_json
from zoo.serve import MAX_BODY, STATIC, Served, error_body, log
from zoo.serve.guard import HostGuard, allowed_hosts
from zoo.serve.limits import finite_results

HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
PAGE_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'",
}
#: Predictions that run at once; each may decode images and run a model on all CPU cores.
MAX_PREDICTIONS = 2
#: Seconds one prediction may take (and may wait for its turn) before the answer is an error.
PREDICT_TIMEOUT = 30.0
#: Seconds a client has to send the whole request body.
BODY_TIMEOUT = 20.0
JSON_HINT = '{"inputs": ["1.5"], "options": {}}'


class RequestError(Exception):
    """A request refused before it reaches a model, with its HTTP status."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


class Predictions:
    """A bounded pool for predictions: MAX_PREDICTIONS at once, each within ``timeout`` seconds.

    A prediction past its time is answered with 504 but cannot be stopped (torch has no way
    to interrupt a thread); its slot is freed only when it really ends, so the bound holds.
    """

    def __init__(self, workers: int, timeout: float) -> None:
        self.workers, self.timeout = workers, timeout
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="zoo-predict")
        self.slots: asyncio.Semaphore | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.workers)
        slots = self.slots
        try:
            if slots.locked():
                await asyncio.wait_for(slots.acquire(), self.timeout)
            else:
                await slots.acquire()  # a free slot is taken at once, whatever the timeout
        except asyncio.TimeoutError:
            raise RequestError(
                503,
                f"the server is busy: {self.workers} predictions are running and this one waited "
                f"{self.timeout:g} s for its turn",
                "try again in a moment",
            ) from None
        try:
            future = loop.run_in_executor(self.pool, fn, *args)
        except BaseException:
            slots.release()
            raise
        future.add_done_callback(lambda done: _finished(done, slots))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except asyncio.TimeoutError:
            raise RequestError(
                504,
                f"the prediction took longer than the {self.timeout:g} s limit per request",
                "send fewer or smaller inputs, or start zoo serve with a larger --timeout",
            ) from None


def _finished(future: asyncio.Future[Any], slots: asyncio.Semaphore) -> None:
    slots.release()
    if not future.cancelled():
        future.exception()  # retrieved here so that one answered late is not logged as lost


def create_app(
    served: dict[str, Served],
    max_body: int = MAX_BODY,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_hosts: tuple[str, ...] = (),
    timeout: float = PREDICT_TIMEOUT,
) -> HostGuard:
    """An app serving ``served`` on ``host:port``; bodies larger than ``max_body`` bytes get 413."""
    predictions = Predictions(MAX_PREDICTIONS, timeout)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "models": len(served)}, headers=HEADERS)

    async def models(request: Request) -> Response:
        return JSONResponse({"models": [s.describe() for s in served.values()]}, headers=HEADERS)

    async def model(request: Request) -> Response:
        return JSONResponse(_find(served, request.path_params["name"]).describe(), headers=HEADERS)

    async def predict(request: Request) -> Response:
        target = _find(served, request.path_params["name"])
        try:
            inputs, options, names = await _read_request(request, max_body)
            results = await predictions.run(target.predict, inputs, options, names)
        except RequestError as exc:
            return _error(exc.status, exc.message, exc.hint)
        except ZooError as exc:
            return JSONResponse(error_body(exc), status_code=400, headers=HEADERS)
        except ClientDisconnect:
            log.info("client went away while sending %s", request.url.path)
            return Response(status_code=400)
        return JSONResponse(finite_results(results), headers=HEADERS)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return _error(status, str(detail), None)

    async def server_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ClientDisconnect):
            return Response(status_code=400)
        log.exception("error while answering %s %s", request.method, request.url.path)
        return _error(500, "internal error while predicting; see the server's log", None)

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/v1/models", models),
        Route("/v1/models/{name}", model),
        Route("/v1/models/{name}/predict", predict, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
    return HostGuard(app, allowed_hosts(host, allow_hosts), port)


def _find(served: dict[str, Served], name: str) -> Served:
    if name not in served:
        raise HTTPException(404, f"no model {name!r} is served here; GET /v1/models lists them")
    return served[name]


def _error(status: int, message: str, hint: str | None) -> Response:
    return JSONResponse({"error": message, "hint": hint}, status_code=status, headers=HEADERS)


def _too_large(limit: int) -> RequestError:
    return RequestError(413, f"request body is larger than {limit} bytes", "send smaller or fewer inputs")


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_request(request: Request, limit: int) -> tuple[list[Any], dict[str, Any], list[str | None]]:
    """The body, within ``limit`` bytes and BODY_TIMEOUT seconds: JSON, or a multipart form."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        if not declared or not declared.isdigit():
            raise RequestError(411, "a multipart upload needs a Content-Length header", "send the form with its length")
        reader = _read_form(request)
    elif kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")):
        reader = _read_json(request, limit)
    else:
        shown = kind[:60] or "none"
        raise RequestError(
            415,
            f"the body must be JSON (Content-Type: application/json) or a multipart form, not {shown}",
            JSON_HINT,
        )
    try:
        return await asyncio.wait_for(reader, BODY_TIMEOUT)
    except asyncio.TimeoutError:
        raise RequestError(408, f"the request body did not arrive within {BODY_TIMEOUT:g} s") from None


async def _read_json(request: Request, limit: int) -> tuple[list[Any], dict[str, Any], list[str | None]]:
    body = _json(await _read_body(request, limit), "request body")
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object", hint=JSON_HINT)
    return body.get("inputs"), body.get("options") or {}, []  # type: ignore[return-value]


async def _read_form(request: Request) -> tuple[list[Any], dict[str, Any], list[str | None]]:
    form = await request.form(max_files=16, max_fields=32)
    inputs: list[Any] = []
    names: list[str | None] = []
    options: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            inputs.append(await value.read())
            names.append(value.filename or None)
        elif key == "inputs":
            inputs.append(value)
            names.append(None)
        elif key == "options":
            parsed = _json(value.encode(), "the options field")
            if not isinstance(parsed, dict):
                raise UsageError("the options field must be a JSON object", hint='{"top": 3}')
            options.update(parsed)
        else:
            options[key] = value
    return inputs, options, names


def _json(data: bytes, what: str) -> Any:
    """Strict JSON (finite numbers, bounded depth and digits) as a UsageError when it is not."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON (not UTF-8: {exc.reason} at byte {exc.start})", JSON_HINT) from None
    try:
        return parse_json(text, what, "JSON")
    except DataError as exc:
        raise UsageError(exc.message, hint=JSON_HINT) from None
