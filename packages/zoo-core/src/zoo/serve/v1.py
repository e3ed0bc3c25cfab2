"""``/v1``, zoo's own JSON API: the models, what they say of themselves, and predictions as ``zoo predict --json``.

A predict request is a JSON body (``{"inputs": [...], "options": {...}}``) or a multipart
form of uploads and fields, read within ``--max-body`` bytes and the body timeout. It
already holds a list of inputs, so it runs on the model's worker as one job.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zoo.errors import UsageError
from zoo.serve.dataplane import DataPlane
from zoo.serve.errortable import BodyTimeout, LengthRequired, UnsupportedBody
from zoo.serve.http import HEADERS, JSON_HINT, answered, check_length, content_kind, is_json, parse, read_body

#: The top-level keys of a /v1 JSON body.
BODY_KEYS = ("inputs", "options")
#: What one request reads: its inputs, its options and the uploads' file names (None for JSON inputs).
Body = tuple[Any, dict[str, Any], list[str | None]]


def routes(plane: DataPlane) -> list[Route]:
    """The /v1 routes over ``plane``'s models."""

    async def models(request: Request) -> Response:
        return JSONResponse({"models": plane.describe_all()}, headers=HEADERS)

    async def model(request: Request) -> Response:
        return JSONResponse(plane.model(request.path_params["name"]).describe(), headers=HEADERS)

    async def predict(request: Request) -> Response:
        async def run() -> Response:
            target = plane.model(request.path_params["name"])
            inputs, options, names = await read_request(request, plane)
            results = await plane.predict(target, inputs, options, names)
            return JSONResponse(results, headers=HEADERS)

        return await answered(plane, request, "/v1/models/{name}/predict", run)

    return [
        Route("/v1/models", models),
        Route("/v1/models/{name}", model),
        Route("/v1/models/{name}/predict", predict, methods=["POST"]),
    ]


async def read_request(request: Request, plane: DataPlane) -> Body:
    """The body, within ``--max-body`` bytes and the body timeout: JSON, or a multipart form."""
    limit = plane.options.max_body
    declared = check_length(request, limit)
    kind = content_kind(request)
    if kind == "multipart/form-data":
        if not declared or not declared.isdigit():
            raise LengthRequired("a multipart upload needs a Content-Length header", "send the form with its length")
        reader = _read_form(request)
    elif is_json(kind):
        reader = _read_json(request, limit)
    else:
        shown = kind[:60] or "none"
        raise UnsupportedBody(
            f"the body must be JSON (Content-Type: application/json) or a multipart form, not {shown}", JSON_HINT
        )
    try:
        return await asyncio.wait_for(reader, plane.options.body_timeout)
    except asyncio.TimeoutError:
        raise BodyTimeout(plane.options.body_timeout) from None


async def _read_json(request: Request, limit: int) -> Body:
    body = parse(await read_body(request, limit), "request body")
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object", hint=JSON_HINT)
    unknown = sorted(str(k)[:40] for k in body if k not in BODY_KEYS)
    if unknown:  # a misspelt "option" would otherwise be dropped without a word
        shown = ", ".join(repr(k) for k in unknown[:5])
        raise UsageError(
            f"unknown key(s) {shown} in the request body", hint=f'the keys are "inputs" and "options": {JSON_HINT}'
        )
    return body.get("inputs"), body.get("options") or {}, []


async def _read_form(request: Request) -> Body:
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
