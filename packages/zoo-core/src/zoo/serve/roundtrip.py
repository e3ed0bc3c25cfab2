"""A model served in-process and called as a client would, for ``zoo check``: no socket, no thread left over.

The app is driven through httpx's ASGI transport: the model listing, a ``/v1`` predict of
the plugin's example inputs (images sent as base64, as the page sends them), the ``/v2``
metadata and a ``/v2`` infer of the adapter's example batch, whose output must match the
exported module run directly. The first route that fails is named in one ZooError.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from zoo.errors import UsageError, ZooError
from zoo.serve.options import ServeOptions

#: Where the in-process app believes it is (zoo serve's default address); the Host header must name it.
OPTIONS = ServeOptions(max_latency=0.0)  # one request at a time: no batch to wait for
BASE = f"http://{OPTIONS.host}:{OPTIONS.port}"


class RoundTripError(ZooError):
    """A route of ``zoo serve`` that did not answer a model's example as it should."""


def check_roundtrip(loaded: Any, name: str = "model") -> None:
    """Serve ``loaded`` as ``name`` in-process; raise RoundTripError naming the first failing route."""
    try:
        import httpx
    except ImportError:
        raise UsageError("checking zoo serve needs httpx", hint="pip install 'zoo-core[serve]'") from None
    from zoo.contracts.adapter import adapter_for
    from zoo.serve.app import create_app
    from zoo.serve.models import Served

    adapter = adapter_for(loaded.spec)
    training = loaded.model.training
    try:
        served = {name: Served(name, loaded, adapter)}
        app = create_app(served, OPTIONS)
        try:
            asyncio.run(_calls(httpx, app, served[name], adapter))
        finally:
            app.close()
    finally:
        loaded.model.train(training)  # as the caller had it: serving puts it in eval mode


async def _calls(httpx: Any, app: Any, model: Any, adapter: Any) -> None:
    name = model.name
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
        route = "GET /v1/models"
        listed = _json(await client.get("/v1/models"), route)
        if name not in [m.get("name") for m in listed.get("models", [])]:
            raise RoundTripError(f"{route} does not list {name}")
        route = f"POST /v1/models/{name}/predict"
        inputs = _v1_inputs(adapter.example_inputs(), model.description["input_form"].get("kind"))
        if inputs:
            results = _json(await client.post(f"/v1/models/{name}/predict", json={"inputs": inputs}), route)
            if not isinstance(results, list) or len(results) != len(inputs):
                raise RoundTripError(f"{route} answered {str(results)[:80]} for {len(inputs)} example inputs")
        route = f"GET /v2/models/{name}"
        if model.signature is None:
            raise RoundTripError(f"{route}: {name} has no tensor signature: {model.no_signature}")
        meta = _json(await client.get(f"/v2/models/{name}"), route)
        if meta.get("inputs") != model.signature.metadata(name)["inputs"]:
            raise RoundTripError(f"{route} describes inputs {str(meta.get('inputs'))[:80]}")
        route = f"POST /v2/models/{name}/infer"
        await _infer(client, model, adapter, route)


async def _infer(client: Any, model: Any, adapter: Any, route: str) -> None:
    import torch

    from zoo.use.export import example_batch

    x = example_batch(adapter, model.loaded, 2)
    body = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": model.signature.input_dtype,
                        "data": x.reshape(-1).tolist()}]}  # fmt: skip
    reply = _json(await client.post(f"/v2/models/{model.name}/infer", json=body), route)
    outputs = reply.get("outputs") if isinstance(reply, dict) else None
    if not isinstance(outputs, list) or not outputs or not isinstance(outputs[0], dict):
        raise RoundTripError(f"{route} answered no outputs: {str(reply)[:80]}")
    expected = model.infer(x)
    got = outputs[0]
    if got.get("shape") != list(expected.shape):
        raise RoundTripError(f"{route} answered shape {got.get('shape')}, the model gives {list(expected.shape)}")
    values = torch.tensor([v if v is not None else float("nan") for v in got.get("data", [])], dtype=torch.float64)
    want = expected.double().reshape(-1)
    if values.shape != want.shape or not torch.allclose(values, want, atol=1e-5, equal_nan=True):
        raise RoundTripError(f"{route} answered outputs that differ from the model's own")


def _v1_inputs(examples: list[str], kind: str | None) -> list[Any]:
    if kind != "image":
        return list(examples)
    from zoo.files.readfile import read_bytes

    return [base64.b64encode(read_bytes(p, "data", "an example image")).decode() for p in examples]


def _json(response: Any, route: str) -> Any:
    if response.status_code != 200:
        try:
            detail = response.json().get("error")
        except Exception:  # not JSON: show the start of the body
            detail = response.text[:120]
        raise RoundTripError(f"{route} answered {response.status_code}: {detail}")
    try:
        return response.json()
    except ValueError:
        raise RoundTripError(f"{route} answered a body that is not JSON: {response.text[:80]}") from None
