"""The Open Inference Protocol (KServe v2, Triton's HTTP API) beside ``/v1``: tensors in, tensors out.

A model has one input and one output, both named as ``zoo export`` names them (``input``,
``output``), with the batch dimension as -1. Inputs are the model's own tensors,
preprocessed as the export's metadata says (normalized images, standardized features),
as JSON ``data`` or in the binary tensor extension (``Inference-Header-Content-Length``).
Requests for one model are merged into batches by its worker (``zoo.serve.batcher``).
Everything the client got wrong is a 4xx with ``{"error": "..."}``; the size of a
request is bounded by its body (``--max-body``) and by MAX_ELEMENTS, checked from the
declared shape before any data is read.
"""

from __future__ import annotations

import json
import math
import re
import weakref
from concurrent.futures import Future
from typing import Any

import numpy as np
import torch
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zoo.errors import UsageError, ZooError
from zoo.serve.batcher import Busy, Job, TooSlow, answer
from zoo.serve.http import (
    HEADERS,
    RequestError,
    State,
    busy,
    check_length,
    content_kind,
    is_json,
    parse,
    public,
    read_body_in_time,
)
from zoo.serve.http import too_slow as slow_error
from zoo.serve.models import DATATYPES, Served, Signature, log
from zoo.version import __version__

#: Most tensor elements one request may hold (a batch of 1,337 MNIST images).
MAX_ELEMENTS = 1 << 20
#: numpy's little-endian types for the v2 datatypes zoo accepts as input.
NUMPY = {
    "FP32": "<f4",
    "FP64": "<f8",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "i1",
    "UINT8": "u1",
    "BOOL": "?",
}
HINT = '{"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [...]}]}'
#: Inference-Header-Content-Length: plain ASCII digits, few enough to be a length at all.
HEADER_LENGTH = re.compile(r"[0-9]{1,12}")
#: Token limits found in served modules (the smallest embedding table), computed once per module.
_TOKEN_LIMITS: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()
#: Content types a v2 client sends (Triton's client sends none); a web page's plain forms are refused.
BODY_KINDS = ("", "application/octet-stream")


def v2_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": public(message)}, status_code=status, headers={**HEADERS, **(headers or {})})


def routes(state: State) -> list[Route]:
    """The v2 routes over ``state``'s models."""

    async def server(request: Request) -> Response:
        body = {"name": "zoo", "version": __version__, "extensions": ["binary_tensor_data"]}
        return JSONResponse(body, headers=HEADERS)

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True}, headers=HEADERS)

    async def ready(request: Request) -> Response:
        status = 503 if state.stopping else 200
        return JSONResponse({"ready": status == 200}, status_code=status, headers=HEADERS)

    async def metadata(request: Request) -> Response:
        model = _tensor_model(state, request)
        if isinstance(model, Response):
            return model
        assert model.signature is not None
        return JSONResponse(model.signature.metadata(model.name), headers=HEADERS)

    async def model_ready(request: Request) -> Response:
        model = _tensor_model(state, request)
        if isinstance(model, Response):
            return model
        status = 503 if state.stopping else 200
        return JSONResponse({"name": model.name, "ready": status == 200}, status_code=status, headers=HEADERS)

    async def infer(request: Request) -> Response:
        answered: list[Response] = []
        async with state.track(request, "/v2/models/{name}/infer", answered):
            answered.append(await _infer(state, request))
        return answered[-1]

    paths = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
    return [
        Route("/v2", server),
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        *(Route(p, metadata) for p in paths),
        *(Route(p + "/ready", model_ready) for p in paths),
        *(Route(p + "/infer", infer, methods=["POST"]) for p in paths),
    ]


def _tensor_model(state: State, request: Request) -> Served | Response:
    name = request.path_params["name"]
    if name not in state.served:
        return v2_error(404, f"no model {str(name)[:100]!r} is served here; GET /v1/models lists them")
    version = request.path_params.get("version")
    if version not in (None, "", "1"):
        return v2_error(404, f"{name} has one version, 1; there is no version {str(version)[:40]!r}")
    model = state.served[name]
    if model.signature is None:
        return v2_error(400, f"{name} cannot be called through /v2: {model.no_signature}; use /v1")
    return model


async def _infer(state: State, request: Request) -> Response:
    model = _tensor_model(state, request)
    if isinstance(model, Response):
        return model
    try:
        check_length(request, state.max_body)
        kind = content_kind(request)
        if kind not in BODY_KINDS and not is_json(kind):
            shown = kind[:60]
            raise RequestError(415, f"a v2 request body must be JSON or binary tensor data, not {shown}", HINT)
        body = await read_body_in_time(request, state)
        header, x = read_infer(body, request.headers.get("inference-header-content-length"), model.signature)
        check_values(x, token_limit(model.forward))
        worker = state.workers[model.name]
        try:
            y = await answer(worker, Job(Future(), tensor=x), state.timeout)
        except Busy as exc:
            raise busy(exc.model, exc.limit) from None
        except TooSlow:
            raise slow_error(state.timeout) from None
        except ZooError:
            raise
        except Exception as exc:  # this request alone (the batcher retried it by itself) broke the model
            log.warning("%s: a /v2 input did not run through the model: %s: %s", model.name, type(exc).__name__, exc)
            raise RequestError(
                400,
                f"input 'input' does not run through {model.name} ({type(exc).__name__})",
                f"check its values against GET /v2/models/{model.name}",
            ) from None
    except RequestError as exc:
        text = exc.message if not exc.hint else f"{exc.message} ({exc.hint})"
        return v2_error(exc.status, text, exc.headers)
    except ZooError as exc:
        return v2_error(400, exc.message if not exc.hint else f"{exc.message} ({exc.hint})")
    return infer_response(model.name, header, y)


def read_infer(body: bytes, header_length: str | None, sig: Signature | None) -> tuple[dict[str, Any], torch.Tensor]:
    """The request's JSON header and its one input as a tensor, checked against ``sig``."""
    if sig is None:
        raise UsageError("this model has no tensor signature; use /v1")
    if header_length is not None:
        if not HEADER_LENGTH.fullmatch(header_length) or int(header_length) > len(body):
            shown = header_length[:20].encode("ascii", "backslashreplace").decode()
            raise UsageError(f"Inference-Header-Content-Length {shown!r} is not a length within the body")
        size = int(header_length)
        head, binary = body[:size], body[size:]
    else:
        head, binary = body, b""
    header = parse(head, "the inference request", HINT)
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise UsageError('an inference request is a JSON object with a list "inputs"', hint=HINT)
    inputs = header["inputs"]
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise UsageError(f"this model takes one input, named 'input'; the request has {len(inputs)}", hint=HINT)
    item = inputs[0]
    if item.get("name") != "input":
        raise UsageError(f"this model's input is named 'input', not {str(item.get('name'))[:40]!r}")
    if item.get("datatype") != sig.input_dtype:
        raise UsageError(f"input 'input' must be {sig.input_dtype}, not {str(item.get('datatype'))[:20]}")
    shape = _shape(item.get("shape"), sig.input_shape)
    count = math.prod(shape)
    if sig.input_dtype not in NUMPY:
        raise UsageError(f"inputs of type {sig.input_dtype} cannot be sent to /v2 yet; use /v1")
    dtype = np.dtype(NUMPY[sig.input_dtype])
    params = item.get("parameters")
    params = params if isinstance(params, dict) else {}
    if "binary_data_size" in params:
        size = params["binary_data_size"]
        if size != count * dtype.itemsize or size != len(binary):
            raise UsageError(
                f"input 'input' of shape {shape} needs {count * dtype.itemsize} bytes of {sig.input_dtype}; "
                f"binary_data_size is {str(size)[:20]} and the body holds {len(binary)} after the header"
            )
        array = np.frombuffer(binary, dtype=dtype).copy()
    else:
        data = item.get("data")
        if not isinstance(data, list):
            raise UsageError("input 'input' needs its values as a list \"data\" (or binary_data_size)", hint=HINT)
        try:
            array = np.asarray(data, dtype=dtype.newbyteorder("="))
        except (ValueError, TypeError, OverflowError):
            raise UsageError(f"input 'input' data must be {sig.input_dtype} numbers in nested lists") from None
        if array.size != count:
            raise UsageError(f"input 'input' has shape {shape} ({count} values) but its data holds {array.size}")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return header, torch.from_numpy(array.reshape(shape))


def token_limit(module: Any) -> int | None:
    """The number of rows of the smallest embedding table in ``module``: integer inputs index it."""
    if module is None:
        return None
    try:
        return _TOKEN_LIMITS[module]
    except (KeyError, TypeError):
        pass
    sizes = [
        int(m.num_embeddings) for m in module.modules() if isinstance(m, torch.nn.Embedding | torch.nn.EmbeddingBag)
    ]
    limit = min(sizes) if sizes else None
    try:
        _TOKEN_LIMITS[module] = limit
    except TypeError:
        pass
    return limit


def check_values(x: torch.Tensor, tokens: int | None) -> None:
    """Refuse values the model cannot take before the request joins a batch with others.

    Integers index embedding tables (0 to ``tokens`` - 1, never negative); floating-point
    inputs are finite. A bad request then fails alone, never the batch it would have joined.
    """
    if x.numel() == 0 or x.dtype == torch.bool:
        return
    if x.is_floating_point():
        bad = ~torch.isfinite(x)
        if bool(bad.any()):
            where = int(bad.reshape(-1).nonzero()[0])
            raise UsageError(f"input 'input' holds a non-finite value at flat position {where}; send finite numbers")
        return
    high = None if tokens is None else tokens - 1
    bad = (x < 0) if high is None else (x < 0) | (x > high)
    if bool(bad.any()):
        where = int(bad.reshape(-1).nonzero()[0])
        value = int(x.reshape(-1)[where])
        allowed = "0 or more" if high is None else f"0 to {high}"
        raise UsageError(f"input 'input' holds token index {value} at flat position {where}; the model takes {allowed}")


def _shape(value: Any, expected: list[int]) -> list[int]:
    ok = isinstance(value, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in value)
    if not ok:
        raise UsageError("input 'input' needs a shape: a list of whole numbers", hint=HINT)
    if len(value) != len(expected) or any(e != -1 and d != e for d, e in zip(value, expected, strict=True)):
        raise UsageError(f"input 'input' must have shape {expected} (-1: any batch size), got {value[:8]}")
    if value[0] < 1:
        raise UsageError(f"input 'input' needs a batch of at least 1, got shape {value[:8]}")
    count = math.prod(value)
    if count > MAX_ELEMENTS:
        raise UsageError(
            f"input 'input' of shape {value[:8]} holds {count:,} values; the limit per request is {MAX_ELEMENTS:,}",
            hint="send smaller batches",
        )
    return value


def infer_response(name: str, header: dict[str, Any], y: torch.Tensor) -> Response:
    """The output as JSON data, or as binary tensor data when the request asks for it."""
    array = y.detach().cpu().contiguous().numpy()
    out: dict[str, Any] = {"name": "output", "datatype": _v2_type(y), "shape": list(array.shape)}
    if _wants_binary(header):
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        out["parameters"] = {"binary_data_size": len(data)}
        head = json.dumps(_reply(name, header, out)).encode()
        headers = {**HEADERS, "Inference-Header-Content-Length": str(len(head))}
        return Response(head + data, media_type="application/octet-stream", headers=headers)
    values = array.reshape(-1).tolist()
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        values = [v if math.isfinite(v) else None for v in values]
        out["parameters"] = {"nonfinite": True}  # JSON cannot carry them: null, and said so
    out["data"] = values
    return JSONResponse(_reply(name, header, out), headers=HEADERS)


def _reply(name: str, header: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = {"model_name": name, "model_version": "1", "outputs": [output]}
    if isinstance(header.get("id"), str):
        reply["id"] = header["id"]
    return reply


def _wants_binary(header: dict[str, Any]) -> bool:
    outputs = header.get("outputs")
    if isinstance(outputs, list):
        for item in outputs:
            params = item.get("parameters") if isinstance(item, dict) else None
            if isinstance(params, dict) and params.get("binary_data") is True:
                return True
    params = header.get("parameters")
    return isinstance(params, dict) and params.get("binary_data_output") is True


def _v2_type(y: torch.Tensor) -> str:
    return DATATYPES.get(str(y.dtype).removeprefix("torch."), "FP32")
