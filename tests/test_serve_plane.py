"""``zoo serve``'s one data plane and one error table, in-process: both protocols fail in the same shape.

The app is driven through httpx's ASGI transport over models whose predictions the test
controls (a predict that waits for an event, a module that fails on negative rows), so a
full queue, a timeout, a model that breaks and a non-finite answer each happen on cue.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch

from zoo.errors import UsageError
from zoo.serve import errortable
from zoo.serve.errortable import ERRORS, ServeError
from zoo.serve.models import Served, Signature
from zoo.serve.options import DEFAULTS, ServeOptions

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")

from zoo.serve.app import ServeApp, create_app  # noqa: E402

BASE = f"http://{DEFAULTS.host}:{DEFAULTS.port}"
FORM = {"kind": "numbers", "count": 2}
V2_BODY = {"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}]}


class SumRows(torch.nn.Module):
    """The sum of each row; a row holding -7 breaks it, as a model breaks on an input no check foresaw."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x == -7).any()):
            raise IndexError("index out of range in self")
        return x.sum(1, keepdim=True) / (x != 9).all(1, keepdim=True)  # a row holding 9 sums to infinity


class Scripted(Served):
    """A served model whose /v1 answer is ``answer()``: the test decides when and what it answers."""

    def __init__(self, name: str, answer: Callable[[], list[dict[str, Any]]]) -> None:
        signature = Signature("FP32", [-1, 2], "FP32", [-1, 1])
        description = {"name": name, "input_form": FORM}
        super().__init__(name, None, None, description=description, signature=signature, forward=SumRows())
        self.answer = answer

    def predict(self, inputs: Any, options: Any, names: Any = None) -> list[dict[str, Any]]:
        return self.answer()


@contextmanager
def app_for(models: list[Served], **options: Any) -> Iterator[ServeApp]:
    app = create_app({m.name: m for m in models}, ServeOptions(**options))
    try:
        yield app
    finally:
        app.close()


def calls(app: ServeApp, *requests: tuple[str, str, dict[str, Any]]) -> list[Any]:
    """The responses to ``requests`` (method, path, httpx keywords), all sent at once."""

    async def run() -> list[Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as client:
            sent = [client.request(method, path, **kw) for method, path, kw in requests]
            return list(await asyncio.gather(*sent))

    return asyncio.run(run())


def shape_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "hint", "code"} and body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"], body
    return dict(body)


def test_every_error_type_has_one_status_and_code() -> None:
    kinds = [kind for kind, _, _ in ERRORS]
    assert len(kinds) == len(set(kinds))
    assert len({code for _, _, code in ERRORS}) == len(ERRORS)
    declared = vars(errortable).values()
    own = {c for c in declared if isinstance(c, type) and issubclass(c, ServeError) and c is not ServeError}
    assert own <= set(kinds), own - set(kinds)  # no error type without its row in the table


def test_v1_and_v2_answer_the_same_error_in_the_same_shape() -> None:
    ok = Scripted("m", lambda: [{"output": 1.0}])
    with app_for([ok]) as app:
        v1, v2, meta, page = calls(
            app,
            ("POST", "/v1/models/nope/predict", {"json": {"inputs": ["1,2"]}}),
            ("POST", "/v2/models/nope/infer", {"json": V2_BODY}),
            ("GET", "/v2/models/nope", {}),
            ("GET", "/v1/models/nope", {}),
        )
        wrong_kind = calls(
            app, ("POST", "/v2/models/m/infer", {"content": b"x", "headers": {"content-type": "text/csv"}})
        )
        too_large = calls(app, ("POST", "/v1/models/m/predict", {"content": b"{" * 5000}))
    bodies = [shape_of(r, 404, "not_found") for r in (v1, v2, meta, page)]
    assert len({b["error"] for b in bodies}) == 1 and "no model 'nope'" in bodies[0]["error"]
    assert shape_of(wrong_kind[0], 415, "unsupported_media_type")["hint"].startswith('{"inputs"')
    assert shape_of(too_large[0], 415, "unsupported_media_type")["error"].endswith("not none")


def test_a_model_without_tensors_is_named_on_v2_and_served_on_v1() -> None:
    model = Scripted("m", lambda: [{"output": 1.0}])
    model.signature, model.no_signature = None, "its model takes text"
    with app_for([model]) as app:
        v2, v1 = calls(app, ("GET", "/v2/models/m", {}), ("POST", "/v1/models/m/predict", {"json": {"inputs": ["1"]}}))
    body = shape_of(v2, 400, "no_tensor_signature")
    assert "its model takes text" in body["error"] and body["hint"] == "use /v1"
    assert v1.status_code == 200 and v1.json() == [{"output": 1.0}]


def test_a_full_queue_is_a_503_and_a_slow_answer_a_504() -> None:
    release = threading.Event()
    model = Scripted("m", lambda: [{"output": float(release.wait(20))}])
    with app_for([model], max_queue=1, timeout=0.5) as app:
        request = ("POST", "/v1/models/m/predict", {"json": {"inputs": ["1,2"]}})
        answers = calls(app, request, request, request, request)
        release.set()
    codes = sorted(r.status_code for r in answers)
    assert 503 in codes and set(codes) <= {503, 504}, codes  # one runs, one waits, the rest are turned away
    busy = shape_of(next(r for r in answers if r.status_code == 503), 503, "busy")
    assert "1 requests are already waiting for m" in busy["error"]
    assert next(r for r in answers if r.status_code == 503).headers["retry-after"] == "1"
    slow = shape_of(next(r for r in answers if r.status_code == 504), 504, "timeout")
    assert "0.5 s limit" in slow["error"] and "--timeout" in slow["hint"]


def test_non_finite_answers_are_null_and_flagged_on_both_protocols() -> None:
    model = Scripted("m", lambda: [{"output": float("nan"), "top": [1.0, float("inf")]}, {"output": 2.0}])
    infinite = {"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32", "data": [1.0, 2.0, 9.0, 1.0]}]}
    with app_for([model]) as app:
        v1, v2 = calls(
            app,
            ("POST", "/v1/models/m/predict", {"json": {"inputs": ["1,2", "3,4"]}}),
            ("POST", "/v2/models/m/infer", {"json": infinite}),
        )
    assert "NaN" not in v1.text and "Infinity" not in v1.text
    assert v1.json() == [{"output": None, "top": [1.0, None], "nonfinite": True}, {"output": 2.0}]
    output = v2.json()["outputs"][0]
    assert output["data"] == [3.0, None] and output["parameters"] == {"nonfinite": True}


def test_a_request_that_breaks_the_model_fails_alone_with_its_own_code() -> None:
    model = Scripted("m", lambda: [])
    bad = {"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [-7.0, 1.0]}]}
    with app_for([model]) as app:
        good, broken = calls(
            app, ("POST", "/v2/models/m/infer", {"json": V2_BODY}), ("POST", "/v2/models/m/infer", {"json": bad})
        )
    assert good.status_code == 200 and good.json()["outputs"][0]["data"] == [3.0]
    body = shape_of(broken, 400, "model_failed")
    assert "does not run through m (IndexError)" in body["error"] and "GET /v2/models/m" in body["hint"]


def test_user_errors_keep_their_hint_and_lose_server_paths(tmp_path: Any) -> None:
    where = tmp_path / "secret" / "file.txt"
    where.parent.mkdir()

    def refuse() -> list[dict[str, Any]]:
        raise UsageError(f"cannot read {where}", hint="send the values themselves")

    with app_for([Scripted("m", refuse)]) as app:
        (r,) = calls(app, ("POST", "/v1/models/m/predict", {"json": {"inputs": ["1"]}}))
    body = shape_of(r, 400, "invalid_input")
    assert body == {"error": "cannot read file.txt", "hint": "send the values themselves", "code": "invalid_input"}


def test_a_foreign_host_gets_the_same_shape_from_the_guard() -> None:
    with app_for([]) as app:
        (r,) = calls(app, ("GET", "/healthz", {"headers": {"host": "evil.test"}}))
    body = shape_of(r, 403, "forbidden")
    assert "does not answer to the Host 'evil.test'" in body["error"] and "--allow-host" in body["hint"]


def test_the_cli_shows_the_serve_defaults_it_passes_on() -> None:
    from typer.testing import CliRunner

    from zoo.cli.serve import app  # the command attaches itself to the app

    shown = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200).output
    text = " ".join(shown[shown.index("Options:") :].split())
    for flag, value in (
        ("--port", DEFAULTS.port),
        ("--host", DEFAULTS.host),
        ("--max-body", DEFAULTS.max_body),
        ("--timeout", DEFAULTS.timeout),
        ("--max-batch-size", DEFAULTS.max_batch),
        ("--max-latency-ms", DEFAULTS.max_latency * 1000),
        ("--max-queue", DEFAULTS.max_queue),
    ):
        start = text.index(f"{flag} ")
        assert f"[default: {value}" in text[start : text.index("[default:", start) + 40], flag
