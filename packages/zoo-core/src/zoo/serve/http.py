"""What every HTTP route of ``zoo serve`` shares: bounded bodies, strict JSON, errors and the count of each answer.

Each prediction request is timed and counted by model, route template and status
(``/metrics``); every error is answered through ``serve.errortable``, in one shape, with the
server's own file paths cut from its words.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from zoo.errors import DataError, UsageError, ZooError
from zoo.files.strictjson import parse_json
from zoo.serve.errortable import BodyTimeout, BodyTooLarge, ServeError, Stopping, describe
from zoo.serve.metrics import NO_MODEL
from zoo.serve.models import log

if TYPE_CHECKING:
    from zoo.serve.dataplane import DataPlane

Handler = Callable[[], Awaitable[Response]]

HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
#: Seconds between looks at whether the server is stopping while a body arrives.
STOP_POLL = 0.25
JSON_HINT = '{"inputs": ["1.5"], "options": {}}'


async def answered(plane: DataPlane, request: Request, route: str, handler: Handler) -> Response:
    """``handler``'s response, counted and timed by model, route template and status.

    The model's worker learns that one more request for it is arriving (dynamic batching
    waits only while more are on their way); any ServeError or ZooError becomes the one
    error shape; a client that went away gets an empty 400.
    """
    name = request.path_params.get("name")
    model = name if isinstance(name, str) and name in plane.served else NO_MODEL
    start, status = time.perf_counter(), 500
    try:
        with plane.arriving(model):
            try:
                response = await handler()
            except (ServeError, ZooError) as exc:
                response = error_response(exc)
            except ClientDisconnect:
                log.info("client went away while sending %s", request.url.path)
                response = Response(status_code=400)
        status = response.status_code
        return response
    finally:
        plane.metrics.observe(model, route, status, time.perf_counter() - start)


def error_response(exc: BaseException) -> Response:
    """``exc`` answered as the table in ``serve.errortable`` says, without the server's file paths."""
    status, body, headers = describe(exc)
    body["error"] = public(body["error"])
    body["hint"] = public(body["hint"]) if body["hint"] else body["hint"]
    return JSONResponse(body, status_code=status, headers={**HEADERS, **headers})


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


def check_length(request: Request, limit: int) -> str | None:
    """The declared Content-Length, refused at once when it is over ``limit``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    return declared


async def read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body_in_time(request: Request, plane: DataPlane) -> bytes:
    """The body within ``--max-body`` bytes and the body timeout (408), or 503 once the server stops.

    A client that sends its body slowly must not hold a connection slot for ever, nor make a
    SIGTERM wait the whole drain for a request that has not even arrived.
    """
    reading = asyncio.ensure_future(read_body(request, plane.options.max_body))
    seconds = plane.options.body_timeout
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            done, _ = await asyncio.wait({reading}, timeout=max(0.0, min(left, STOP_POLL)))
            if done:
                return reading.result()
            if plane.stopping:
                raise Stopping("the server is stopping; this request's body had not arrived", "send it again")
            if left <= 0:
                raise BodyTimeout(seconds)
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
