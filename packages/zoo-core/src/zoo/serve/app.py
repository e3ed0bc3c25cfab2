"""The Starlette application behind ``zoo serve``: JSON API, multipart uploads and the page."""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zoo.errors import UsageError, ZooError
from zoo.serve import MAX_BODY, STATIC, Served, error_body, log

HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
PAGE_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'",
}


class TooLarge(Exception):
    """The request body is over the limit."""


def create_app(served: dict[str, Served], max_body: int = MAX_BODY) -> Starlette:
    """An app serving ``served``; bodies larger than ``max_body`` bytes get 413."""

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
            inputs, options = await _read_request(request, max_body)
            results = await run_in_threadpool(target.predict, inputs, options)
        except TooLarge:
            return _error(413, f"request body is larger than {max_body} bytes", "send smaller or fewer inputs")
        except ZooError as exc:
            return JSONResponse(error_body(exc), status_code=400, headers=HEADERS)
        return JSONResponse(results, headers=HEADERS)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return _error(status, str(detail), None)

    async def server_error(request: Request, exc: Exception) -> Response:
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
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})


def _find(served: dict[str, Served], name: str) -> Served:
    if name not in served:
        raise HTTPException(404, f"no model {name!r} is served here; GET /v1/models lists them")
    return served[name]


def _error(status: int, message: str, hint: str | None) -> Response:
    return JSONResponse({"error": message, "hint": hint}, status_code=status, headers=HEADERS)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_request(request: Request, limit: int) -> tuple[list[Any], dict[str, Any]]:
    """``{"inputs": [...], "options": {...}}`` as JSON, or a multipart form with ``file`` parts."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        declared = request.headers.get("content-length")
        if not declared or not declared.isdigit() or int(declared) > limit:
            raise TooLarge
        form = await request.form(max_files=16, max_fields=32)
        inputs: list[Any] = []
        options: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                inputs.append(await value.read())
            elif key == "inputs":
                inputs.append(value)
            elif key == "options":
                options.update(_json(value.encode(), "options"))
            else:
                options[key] = value
        return inputs, options
    body = _json(await _read_body(request, limit), "request body")
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object", hint='{"inputs": ["1.5"], "options": {}}')
    return body.get("inputs"), body.get("options") or {}  # type: ignore[return-value]


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what} is not valid JSON ({exc})", hint='{"inputs": ["1.5"], "options": {}}') from None
