"""Every way a request to ``zoo serve`` can fail, each mapped to its HTTP status and code once.

``/v1``, ``/v2`` and the host guard answer errors in one shape, ``{"error", "hint",
"code"}``: ``error`` says what was wrong (the Open Inference Protocol's clients, Triton's
included, read that field), ``hint`` what to do, ``code`` a stable word a program can
branch on. Nothing here needs starlette: the routes turn ``describe``'s answer into a
response, the host guard into raw ASGI messages.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ZooError

#: Seconds a client is asked to wait (Retry-After) before trying a full queue again.
RETRY_AFTER = 1


class ServeError(Exception):
    """A request refused, with what to do about it; its type alone decides status and code (ERRORS)."""

    def __init__(self, message: str, hint: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.hint, self.headers = message, hint, headers or {}


class NotFound(ServeError):
    """No such model (or version of it) is served here."""


class NoTensors(ServeError):
    """The model has no tensor signature, so ``/v2`` cannot call it."""


class ModelFailed(ServeError):
    """A checked input still did not run through the model; only that request fails."""


class Forbidden(ServeError):
    """A Host or Origin that is not this server."""


class LengthRequired(ServeError):
    """A multipart upload without its Content-Length."""


class BodyTooLarge(ServeError):
    """A body over ``--max-body``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes", "send smaller or fewer inputs")


class UnsupportedBody(ServeError):
    """A body of a content type the route does not read."""


class BodyTimeout(ServeError):
    """The body did not arrive in time."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} s")


class Busy(ServeError):
    """Every place in a queue is taken; the client should try again shortly."""

    def __init__(self, what: str, limit: int, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(
            f"the server is busy: {limit} requests are already waiting for {what}",
            f"try again in {retry_after} s",
            {"Retry-After": str(retry_after)},
        )
        self.what, self.limit = what, limit


class Stopping(ServeError):
    """The server is shutting down and takes no new work."""


class TooSlow(ServeError):
    """The answer did not come within the per-request time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the prediction took longer than the {seconds:g} s limit per request",
            "send fewer or smaller inputs, or start zoo serve with a larger --timeout",
        )


#: Each error type with its HTTP status and code; the first entry the error is an instance of wins.
ERRORS: tuple[tuple[type[BaseException], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (NoTensors, 400, "no_tensor_signature"),
    (ModelFailed, 400, "model_failed"),
    (Forbidden, 403, "forbidden"),
    (LengthRequired, 411, "length_required"),
    (BodyTooLarge, 413, "body_too_large"),
    (UnsupportedBody, 415, "unsupported_media_type"),
    (BodyTimeout, 408, "body_timeout"),
    (Busy, 503, "busy"),
    (Stopping, 503, "stopping"),
    (TooSlow, 504, "timeout"),
    (ZooError, 400, "invalid_input"),
)
#: What a client is told of an error nobody foresaw; the server's log has the traceback.
INTERNAL = (500, "internal", "internal error while predicting; see the server's log")


def describe(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The HTTP status, the JSON body and the extra headers that answer ``exc``."""
    status, code = next(((s, c) for kind, s, c in ERRORS if isinstance(exc, kind)), INTERNAL[:2])
    if isinstance(exc, ServeError):
        return status, body(exc.message, exc.hint, code), exc.headers
    if isinstance(exc, ZooError):
        return status, body(exc.message, exc.hint, code), {}
    return status, body(INTERNAL[2], None, code), {}


def body(message: str, hint: str | None, code: str) -> dict[str, Any]:
    """The one error shape of ``zoo serve``."""
    return {"error": message, "hint": hint, "code": code}
