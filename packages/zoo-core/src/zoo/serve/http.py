"""What every route of ``zoo serve`` shares: its state, bounded bodies, errors and the count of each answer.

Each request is timed and counted by model, route template and status (``/metrics``), and
the model's worker learns how many requests for it are arriving, so dynamic batching
waits only while more are on their way.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from zoo.errors import DataError, UsageError
from zoo.files.readfile import parse_json
from zoo.serve.batcher import ModelWorker
from zoo.serve.metrics import NO_MODEL, Metrics
from zoo.serve.models import Served

HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
#: Seconds a client has to send the whole request body.
BODY_TIMEOUT = 20.0
#: Seconds between looks at whether the server is stopping while a body arrives.
STOP_POLL = 0.25
#: Seconds a client is asked to wait before trying again when a model's queue is full.
RETRY_AFTER = 1
JSON_HINT = '{"inputs": ["1.5"], "options": {}}'


class RequestError(Exception):
    """A request refused before it reaches a model, with its HTTP status."""

    def __init__(self, status: int, message: str, hint: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.hint, self.headers = status, message, hint, headers or {}


@dataclass
class State:
    """The served models, their workers and the server's metrics and limits."""

    served: dict[str, Served]
    workers: dict[str, ModelWorker]
    metrics: Metrics
    max_body: int
    timeout: float
    in_progress: int = 0
    stopping: bool = field(default=False)

    def find(self, name: str) -> Served:
        if name not in self.served:
            raise HTTPException(404, f"no model {name!r} is served here; GET /v1/models lists them")
        return self.served[name]

    @asynccontextmanager
    async def track(self, request: Request, route: str, answer: list[Response]) -> AsyncIterator[str]:
        """Count and time one request; yields the model label. The handler appends its response."""
        name = request.path_params.get("name")
        model = name if isinstance(name, str) and name in self.served else NO_MODEL
        worker = self.workers.get(model)
        start = time.perf_counter()
        self.in_progress += 1
        self.metrics.in_progress.inc()
        if worker is not None:
            worker.arriving += 1
        try:
            yield model
        finally:
            if worker is not None:
                worker.arriving -= 1
            self.in_progress -= 1
            self.metrics.in_progress.dec()
            status = answer[-1].status_code if answer else 500
            self.metrics.observe(model, route, status, time.perf_counter() - start)


#: A run of characters that may be a file path on the server (checked against the disk before hiding).
PATH_LIKE = re.compile(r"/[^\s'\"(),;:<>]+")


def public(text: str) -> str:
    """``text`` without the server's own file paths: each becomes its last part.

    Errors from deep inside (a plugin, a decoder, a temporary upload) may name files on the
    server; a client learns nothing from them but where zoo is installed. A path counts as
    the server's when it or the folder above it exists here (``/v1/models`` does not).
    """

    def hide(match: re.Match[str]) -> str:
        path = match.group(0).rstrip(".")
        parent = os.path.dirname(path)
        if parent in ("", "/") or not (os.path.exists(path) or os.path.isdir(parent)):
            return match.group(0)
        return os.path.basename(path) + match.group(0)[len(path) :]

    return PATH_LIKE.sub(hide, text) if "/" in text else text


def error(status: int, message: str, hint: str | None = None, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": public(message), "hint": public(hint) if hint else hint}
    return JSONResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


def busy(model: str, limit: int) -> RequestError:
    return RequestError(
        503,
        f"the server is busy: {limit} requests are already waiting for {model}",
        f"try again in {RETRY_AFTER} s",
        {"Retry-After": str(RETRY_AFTER)},
    )


def too_slow(timeout: float) -> RequestError:
    return RequestError(
        504,
        f"the prediction took longer than the {timeout:g} s limit per request",
        "send fewer or smaller inputs, or start zoo serve with a larger --timeout",
    )


def too_large(limit: int) -> RequestError:
    return RequestError(413, f"request body is larger than {limit} bytes", "send smaller or fewer inputs")


def check_length(request: Request, limit: int) -> str | None:
    """The declared Content-Length, refused at once when it is over ``limit``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    return declared


async def read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body_in_time(request: Request, state: State) -> bytes:
    """The body within ``state.max_body`` bytes and BODY_TIMEOUT seconds (408), or 503 once the server stops.

    A client that sends its body slowly must not hold a connection slot for ever, nor make a
    SIGTERM wait the whole drain for a request that has not even arrived.
    """
    reading = asyncio.ensure_future(read_body(request, state.max_body))
    deadline = time.monotonic() + BODY_TIMEOUT
    try:
        while True:
            left = deadline - time.monotonic()
            done, _ = await asyncio.wait({reading}, timeout=max(0.0, min(left, STOP_POLL)))
            if done:
                return reading.result()
            if state.stopping:
                raise RequestError(503, "the server is stopping; this request's body had not arrived", "send it again")
            if left <= 0:
                raise RequestError(408, f"the request body did not arrive within {BODY_TIMEOUT:g} s")
    finally:
        if not reading.done():
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)


def parse(data: bytes, what: str, hint: str = JSON_HINT) -> Any:
    """Strict JSON (finite numbers, bounded depth and digits) as a UsageError when it is not."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON (not UTF-8: {exc.reason} at byte {exc.start})", hint) from None
    try:
        return parse_json(text, what, "JSON")
    except DataError as exc:
        raise UsageError(exc.message, hint=hint) from None


def content_kind(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(kind: str) -> bool:
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
