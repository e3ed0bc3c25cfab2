"""The Starlette application behind ``zoo serve``: ``/v1`` JSON and uploads, ``/v2`` tensors, ``/metrics``, the page.

Every prediction runs on its model's worker thread (``zoo.serve.batcher``): one job at a
time per model, a bounded queue in front (503 with ``Retry-After`` when it is full), each
request answered within ``--timeout`` (504 past it). ``/v1`` requests, which already
carry a list of inputs, run one by one; ``/v2`` requests are merged into batches.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zoo.errors import UsageError, ZooError
from zoo.serve import v2
from zoo.serve.batcher import Busy, Job, ModelWorker, TooSlow, answer
from zoo.serve.decoding import decode_uploads
from zoo.serve.guard import HostGuard, allowed_hosts
from zoo.serve.http import (
    BODY_TIMEOUT,
    HEADERS,
    JSON_HINT,
    RequestError,
    State,
    busy,
    check_length,
    content_kind,
    error,
    is_json,
    parse,
    read_body,
    too_slow,
)
from zoo.serve.limits import MAX_BODY, finite_results
from zoo.serve.metrics import Metrics
from zoo.serve.models import Served, log

PAGE_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'",
}
STATIC = Path(__file__).parent / "static"
#: Seconds one prediction may take (and may wait for its turn) before the answer is an error.
PREDICT_TIMEOUT = 30.0
#: Rows one forward pass may merge from several /v2 requests (1 turns batching off).
MAX_BATCH = 32
#: Seconds a model's worker waits for more /v2 requests to merge, while more are arriving.
MAX_LATENCY = 0.005
#: Requests that may wait for one model's worker; more get 503.
MAX_QUEUE = 64
#: The top-level keys of a /v1 JSON body.
BODY_KEYS = ("inputs", "options")


class ServeApp(HostGuard):
    """The guarded app, with the state its routes share and a way to stop the model workers."""

    def __init__(self, app: Any, allowed: frozenset[str], port: int, state: State) -> None:
        super().__init__(app, allowed, port)
        self.state = state

    def close(self) -> None:
        """Stop every model's worker after the jobs it already holds."""
        for worker in self.state.workers.values():
            worker.close()


def create_app(
    served: dict[str, Served],
    max_body: int = MAX_BODY,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_hosts: tuple[str, ...] = (),
    timeout: float = PREDICT_TIMEOUT,
    max_batch: int = MAX_BATCH,
    max_latency: float = MAX_LATENCY,
    max_queue: int = MAX_QUEUE,
) -> ServeApp:
    """An app serving ``served`` on ``host:port``; bodies larger than ``max_body`` bytes get 413."""
    metrics = Metrics()
    workers: dict[str, ModelWorker] = {}
    for name, one in served.items():
        worker = ModelWorker(
            name,
            _forward(one),
            max_batch=max_batch,
            max_latency=max_latency,
            max_queue=max_queue,
            on_batch=metrics.batch_size.labels(name).observe,
        )
        workers[name] = worker
        metrics.watch_queue(name, worker.depth)
        metrics.load_seconds.labels(name).set(one.load_seconds)
    state = State(served, workers, metrics, max_body, timeout)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "models": len(served)}, headers=HEADERS)

    async def models(request: Request) -> Response:
        return JSONResponse({"models": [s.describe() for s in served.values()]}, headers=HEADERS)

    async def model(request: Request) -> Response:
        return JSONResponse(state.find(request.path_params["name"]).describe(), headers=HEADERS)

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.text(), media_type=metrics.content_type, headers=HEADERS)

    async def predict(request: Request) -> Response:
        answered: list[Response] = []
        async with state.track(request, "/v1/models/{name}/predict", answered):
            answered.append(await _predict(state, request))
        return answered[-1]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return error(status, str(detail), None)

    async def server_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ClientDisconnect):
            return Response(status_code=400)
        log.exception("error while answering %s %s", request.method, request.url.path)
        return error(500, "internal error while predicting; see the server's log", None)

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/metrics", metrics_page),
        Route("/v1/models", models),
        Route("/v1/models/{name}", model),
        Route("/v1/models/{name}/predict", predict, methods=["POST"]),
        *v2.routes(state),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
    return ServeApp(app, allowed_hosts(host, allow_hosts), port, state)


def _forward(model: Served) -> Any:
    """What the worker runs on a merged /v2 batch: the exported module, on the CPU."""

    def forward(x: Any) -> Any:
        if model.forward is None:
            raise UsageError(f"{model.name} cannot be called through /v2: {model.no_signature}")
        return model.forward(x)

    return forward


async def _predict(state: State, request: Request) -> Response:
    try:
        target = state.find(request.path_params["name"])
    except HTTPException as exc:
        return error(exc.status_code, str(exc.detail))
    try:
        inputs, options, names = await _read_request(request, state.max_body)
        inputs = await decode_uploads(target, inputs, names, state.timeout)  # off the model's worker
        job = Job(Future(), call=lambda: target.predict(inputs, options, names))
        try:
            results = await answer(state.workers[target.name], job, state.timeout)
        except Busy as exc:
            raise busy(exc.model, exc.limit) from None
        except TooSlow:
            raise too_slow(state.timeout) from None
    except RequestError as exc:
        return error(exc.status, exc.message, exc.hint, exc.headers)
    except ZooError as exc:
        return error(400, exc.message, exc.hint)
    except ClientDisconnect:
        log.info("client went away while sending %s", request.url.path)
        return Response(status_code=400)
    return JSONResponse(finite_results(results), headers=HEADERS)


async def _read_request(request: Request, limit: int) -> tuple[list[Any], dict[str, Any], list[str | None]]:
    """The body, within ``limit`` bytes and BODY_TIMEOUT seconds: JSON, or a multipart form."""
    declared = check_length(request, limit)
    kind = content_kind(request)
    if kind == "multipart/form-data":
        if not declared or not declared.isdigit():
            raise RequestError(411, "a multipart upload needs a Content-Length header", "send the form with its length")
        reader = _read_form(request)
    elif is_json(kind):
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
    body = parse(await read_body(request, limit), "request body")
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object", hint=JSON_HINT)
    unknown = sorted(str(k)[:40] for k in body if k not in BODY_KEYS)
    if unknown:  # a misspelt "option" would otherwise be dropped without a word
        shown = ", ".join(repr(k) for k in unknown[:5])
        raise UsageError(
            f"unknown key(s) {shown} in the request body", hint=f'the keys are "inputs" and "options": {JSON_HINT}'
        )
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
            parsed = parse(value.encode(), "the options field")
            if not isinstance(parsed, dict):
                raise UsageError("the options field must be a JSON object", hint='{"top": 3}')
            options.update(parsed)
        else:
            options[key] = value
    return inputs, options, names
