"""``zoo serve``'s Open Inference Protocol (v2) driven by Triton's own client against a real server.

The models are the published weights (``vision.cnn``, ``tabular.linear``); inputs are
preprocessed as ``zoo export``'s metadata describes, and the answers are compared with
what ``zoo predict --json`` prints for the same inputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serve_testkit import run_zoo, serving, together

httpclient = pytest.importorskip("tritonclient.http")
pytest.importorskip("uvicorn")
parser = pytest.importorskip("prometheus_client.parser")
httpx = pytest.importorskip("httpx")
from tritonclient.utils import InferenceServerException  # noqa: E402

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "packages/zoo-vision/src/zoo_vision/examples").glob("*.png"))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-v2")


@pytest.fixture(scope="module")
def server(work: Path) -> Iterator[str]:
    with serving("vision.cnn", "tabular.linear:default", cwd=work) as base:
        yield base


@pytest.fixture
def client(server: str) -> Iterator[Any]:
    triton = httpclient.InferenceServerClient(server.removeprefix("http://"), concurrency=4)
    yield triton
    triton.close()


def digits() -> np.ndarray:
    """The shipped example digits as the model takes them: framed, scaled and normalized."""
    from zoo.files.weights import open_weights
    from zoo_vision.images import load_digit
    from zoo_vision.mnist import normalize

    meta = open_weights("vision.cnn").metadata["data_meta"]
    import torch

    x = torch.stack([load_digit(p).pixels for p in EXAMPLES])
    return normalize(x, meta.get("mean", 0.1307), meta.get("std", 0.3081)).numpy().astype(np.float32)


def infer(client: Any, model: str, x: np.ndarray, binary: bool = True) -> np.ndarray:
    item = httpclient.InferInput("input", list(x.shape), "FP32" if x.dtype == np.float32 else "FP64")
    item.set_data_from_numpy(x, binary_data=binary)
    wanted = [httpclient.InferRequestedOutput("output", binary_data=binary)]
    return np.asarray(client.infer(model, [item], outputs=wanted).as_numpy("output"))


def metrics(base: str) -> dict[str, list[Any]]:
    families = parser.text_string_to_metric_families(httpx.get(base + "/metrics").text)
    return {f.name: f.samples for f in families}


def test_health_and_metadata(client: Any) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("vision.cnn") and client.is_model_ready("tabular.linear")
    meta = client.get_model_metadata("vision.cnn")
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert meta["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 10]}]
    assert client.get_model_metadata("tabular.linear")["inputs"][0]["shape"] == [-1, 1]
    with pytest.raises(InferenceServerException, match="no model 'nope'"):
        client.get_model_metadata("nope")


@pytest.mark.parametrize("binary", [True, False])
def test_vision_infer_agrees_with_zoo_predict(client: Any, work: Path, binary: bool) -> None:
    logits = infer(client, "vision.cnn", digits(), binary)
    assert logits.shape == (len(EXAMPLES), 10)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    printed = json.loads(run_zoo("predict", "vision.cnn", *map(str, EXAMPLES), "--json", cwd=work).stdout)
    assert [int(r["output"]) for r in printed] == probs.argmax(1).tolist()
    assert np.allclose([r["probability"] for r in printed], probs.max(1), atol=1e-5)


def test_tabular_infer_agrees_with_zoo_predict(client: Any, work: Path) -> None:
    x = np.array([[2.0], [-3.5], [0.25]], dtype=np.float32)
    y = infer(client, "tabular.linear", x, binary=False)
    printed = json.loads(run_zoo("predict", "tabular.linear", "2", "-3.5", "0.25", "--json", cwd=work).stdout)
    assert np.allclose(y.reshape(-1), [r["output"] for r in printed], atol=1e-6)


def test_client_mistakes_are_4xx_that_say_what_is_wrong(client: Any, server: str) -> None:
    with pytest.raises(InferenceServerException, match=r"must have shape \[-1, 1, 28, 28\]"):
        infer(client, "vision.cnn", np.zeros((1, 28, 28), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="must be FP32, not FP64"):
        infer(client, "vision.cnn", np.zeros((1, 1, 28, 28), dtype=np.float64))
    with pytest.raises(InferenceServerException, match="no model 'nope'"):
        infer(client, "nope", np.zeros((1, 1), dtype=np.float32))
    url = server + "/v2/models/vision.cnn/infer"
    big = {"inputs": [{"name": "input", "shape": [100_000, 1, 28, 28], "datatype": "FP32", "data": [0]}]}
    r = httpx.post(url, json=big)
    assert r.status_code == 400 and "the limit per request is 1,048,576" in r.json()["error"]
    short = {"inputs": [{"name": "input", "shape": [2, 1, 28, 28], "datatype": "FP32", "data": [0.0] * 784}]}
    r = httpx.post(url, json=short)
    assert r.status_code == 400 and "(1568 values) but its data holds 784" in r.json()["error"]
    r = httpx.post(url, content=b'{"inputs": []}', headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = httpx.post(url, content=b"x" * (2 * 1024 * 1024 + 1))
    assert r.status_code == 413 and "larger than 2097152 bytes" in r.json()["error"]
    r = httpx.post(url, content=b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    assert httpx.post(url, json=short, headers={"host": "evil.example"}).status_code == 403


def test_concurrent_requests_are_batched(server: str) -> None:
    one = digits()[:1]
    body = {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": one.ravel().tolist()}]}
    url = server + "/v2/models/vision.cnn/infer"
    merged = 0.0
    for _ in range(20):  # rounds of 16 requests released together, until one forward pass merged several
        answers = together(16, lambda http: http.post(url, json=body))
        assert [r.status_code for r in answers] == [200] * 16, [r.text for r in answers]
        assert all(r.json()["outputs"][0]["shape"] == [1, 10] for r in answers)
        samples = [s for s in metrics(server)["zoo_batch_size"] if s.labels["model"] == "vision.cnn"]
        single = next(s.value for s in samples if s.name.endswith("_bucket") and s.labels["le"] == "1.0")
        merged = next(s.value for s in samples if s.name.endswith("_count")) - single  # passes of 2+ rows
        if merged > 0:
            break
    assert merged > 0, "no forward pass merged two or more requests"


def test_metrics_count_requests_by_model_route_and_status(client: Any, server: str) -> None:
    infer(client, "tabular.linear", np.ones((1, 1), dtype=np.float32))
    with pytest.raises(InferenceServerException):
        infer(client, "tabular.linear", np.ones((1, 2), dtype=np.float32))
    found = metrics(server)
    counts = {
        (s.labels["model"], s.labels["route"], s.labels["status"]): s.value
        for s in found["zoo_requests"]
        if s.name == "zoo_requests_total"
    }
    assert counts[("tabular.linear", "/v2/models/{name}/infer", "200")] >= 1
    assert counts[("tabular.linear", "/v2/models/{name}/infer", "400")] >= 1
    assert {s.labels["model"] for s in found["zoo_model_load_seconds"]} == {"vision.cnn", "tabular.linear"}
    assert {s.labels["model"] for s in found["zoo_queue_depth"]} == {"vision.cnn", "tabular.linear"}
    assert any(s.name == "zoo_request_seconds_bucket" for s in found["zoo_request_seconds"])
