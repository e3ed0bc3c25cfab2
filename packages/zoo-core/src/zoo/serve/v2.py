"""The Open Inference Protocol (KServe v2, Triton's HTTP API) beside ``/v1``: tensors in, tensors out.

A model has one input and one output, both named as ``zoo export`` names them (``input``,
``output``), with the batch dimension as -1. Inputs are the model's own tensors,
preprocessed as the export's metadata says (normalized images, standardized features),
as JSON ``data`` or in the binary tensor extension (``Inference-Header-Content-Length``),
read and checked by ``serve.tensors``. Requests for one model are merged into batches by
its worker (``serve.batcher``). Errors have zoo's one shape (``serve.errortable``), whose
``error`` field is what the protocol's clients read.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zoo.jsonout import finite
from zoo.serve.dataplane import DataPlane
from zoo.serve.errortable import UnsupportedBody
from zoo.serve.http import HEADERS, answered, check_length, content_kind, is_json, read_body_in_time
from zoo.serve.models import DATATYPES
from zoo.serve.tensors import HINT, read_infer
from zoo.version import __version__

#: Content types a v2 client sends (Triton's client sends none); a web page's plain forms are refused.
BODY_KINDS = ("", "application/octet-stream")


def routes(plane: DataPlane) -> list[Route]:
    """The v2 routes over ``plane``'s models."""

    async def server(request: Request) -> Response:
        body = {"name": "zoo", "version": __version__, "extensions": ["binary_tensor_data"]}
        return JSONResponse(body, headers=HEADERS)

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True}, headers=HEADERS)

    async def ready(request: Request) -> Response:
        return JSONResponse({"ready": plane.ready}, status_code=200 if plane.ready else 503, headers=HEADERS)

    async def metadata(request: Request) -> Response:
        model = plane.tensor_model(request.path_params["name"], request.path_params.get("version"))
        assert model.signature is not None
        return JSONResponse(model.signature.metadata(model.name), headers=HEADERS)

    async def model_ready(request: Request) -> Response:
        model = plane.tensor_model(request.path_params["name"], request.path_params.get("version"))
        status = 200 if plane.ready else 503
        return JSONResponse({"name": model.name, "ready": plane.ready}, status_code=status, headers=HEADERS)

    async def infer(request: Request) -> Response:
        return await answered(plane, request, "/v2/models/{name}/infer", lambda: _infer(plane, request))

    paths = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
    return [
        Route("/v2", server),
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        *(Route(p, metadata) for p in paths),
        *(Route(p + "/ready", model_ready) for p in paths),
        *(Route(p + "/infer", infer, methods=["POST"]) for p in paths),
    ]


async def _infer(plane: DataPlane, request: Request) -> Response:
    model = plane.tensor_model(request.path_params["name"], request.path_params.get("version"))
    check_length(request, plane.options.max_body)
    kind = content_kind(request)
    if kind not in BODY_KINDS and not is_json(kind):
        raise UnsupportedBody(f"a v2 request body must be JSON or binary tensor data, not {kind[:60]}", HINT)
    body = await read_body_in_time(request, plane)
    header, x = read_infer(body, request.headers.get("inference-header-content-length"), model.signature)
    return infer_response(model.name, header, await plane.infer(model, x))


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
    values, lost = finite(array.reshape(-1).tolist())
    if lost:
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
