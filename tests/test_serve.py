"""zoo serve as a real subprocess on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_testkit import serving, train_tiny, zoo_env

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("serve")
    ckpts = [train_tiny(name, work) for name in ("tabular.logistic", "vision.cnn", "seq.rnn")]
    with serving(*ckpts, cwd=work) as base:
        yield base


def png_bar(vertical: bool) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("L", (56, 56), 0)
    box = (24, 8, 32, 48) if vertical else (8, 24, 48, 32)
    ImageDraw.Draw(img).rectangle(box, fill=255)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_health_and_listing(server: str) -> None:
    assert httpx.get(server + "/healthz").json()["status"] == "ok"
    models = {m["name"]: m for m in httpx.get(server + "/v1/models").json()["models"]}
    assert set(models) == {"tabular.logistic", "vision.cnn", "seq.rnn"}
    assert models["vision.cnn"]["input_form"]["kind"] == "image"
    assert models["seq.rnn"]["input_form"]["kind"] == "text"
    assert models["tabular.logistic"]["input_form"] == {
        "kind": "numbers",
        "count": 1,
        "names": ["x"],
        "example": [2.0],  # the median of the training x = 1, 2, 3
        "example_from": "the training medians",
        "label": "y",
        "binary": True,
    }


def test_numbers_text_and_images(server: str) -> None:
    r = httpx.post(server + "/v1/models/tabular.logistic/predict", json={"inputs": [4, "1.0", [2.5]]})
    assert r.status_code == 200
    assert [row["values"] for row in r.json()] == [[4.0], [1.0], [2.5]]
    r = httpx.post(server + "/v1/models/seq.rnn/predict", json={"inputs": ["hello"], "options": {"top": 2}})
    assert r.status_code == 200 and len(r.json()[0]["output"]) == 5
    image = base64.b64encode(png_bar(True)).decode()
    r = httpx.post(server + "/v1/models/vision.cnn/predict", json={"inputs": [image], "options": {"top": 3}})
    assert r.status_code == 200, r.text
    assert r.json()[0]["output"] == 0 and len(r.json()[0]["top"]) == 3 and r.json()[0]["input"] == "image 1"
    r = httpx.post(
        server + "/v1/models/vision.cnn/predict",
        files={"file": ("bar.png", png_bar(False), "image/png")},
        data={"top": "2"},
    )
    assert r.status_code == 200, r.text
    assert r.json()[0]["output"] == 1


def test_bad_requests_are_clear_4xx(server: str) -> None:
    url = server + "/v1/models/tabular.logistic/predict"
    r = httpx.post(url, json={"inputs": ["abc"]})
    assert r.status_code == 400 and "('abc') is not a plain decimal number" in r.json()["error"]
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = httpx.post(url, json={"inputs": [1], "options": {"csv": "/etc/passwd"}})
    assert r.status_code == 400 and "unknown option(s) csv" in r.json()["error"]
    r = httpx.post(url, content=b"x" * (2 * 1024 * 1024 + 1))
    assert r.status_code == 413
    r = httpx.post(server + "/v1/models/vision.cnn/predict", json={"inputs": ["bm90IGFuIGltYWdl"]})
    assert r.status_code == 400 and "is not an image" in r.json()["error"]
    r = httpx.post(server + "/v1/models/seq.rnn/predict", json={"inputs": ["hello"], "options": {"generate": 3}})
    assert r.status_code == 400 and "--generate continues a text" in r.json()["error"]
    assert httpx.post(server + "/v1/models/nope/predict", json={}).status_code == 404
    assert httpx.get(url).status_code == 405
    for r in (httpx.get(server + "/"), httpx.get(server + "/static/app.js")):
        assert r.status_code == 200


def test_port_in_use_is_one_line(tmp_path: Path, server: str) -> None:
    from serve_testkit import run_zoo

    port = server.rsplit(":", 1)[1]
    ckpt = next(tmp_path.parent.glob("serve*/tabular.logistic/best.safetensors"))
    proc = run_zoo("serve", str(ckpt), "--port", port, cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "cannot listen on 127.0.0.1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_third_party_plugin_option_works_through_serve(tmp_path: Path) -> None:
    from test_readme import install_readme_plugin

    site = tmp_path / "site"
    install_readme_plugin(site)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "hello"}
    run = tmp_path / "xor"
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", "train", "hello.xor", "--out", str(run), "--quiet"],
        cwd=tmp_path, env=zoo_env(**env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with serving(run, cwd=tmp_path, env=env) as base:
        url = base + "/v1/models/hello.xor/predict"
        plain = httpx.post(url, json={"inputs": ["1,0"]}).json()[0]
        assert plain["label"] == 1, plain
        strict = (plain["probability"] + 1.0) / 2
        r = httpx.post(url, json={"inputs": ["1,0"], "options": {"threshold": strict}})
        assert r.status_code == 200 and r.json()[0]["label"] == 0, r.text
        r = httpx.post(url, json={"inputs": ["1,0"], "options": {"threshold": "high"}})
        assert r.status_code == 400 and "threshold" in r.json()["error"]
        r = httpx.post(url, json={"inputs": ["1,0"], "options": {"treshold": 0.9}})
        assert r.status_code == 400 and "unknown option(s) treshold" in r.json()["error"]
        assert "threshold" in r.json()["hint"]


@pytest.mark.parametrize("ref", ["vision.cnn", "tabular.linear:default", "seq.rnn"])
def test_check_roundtrip_serves_each_kind_of_model_in_process(ref: str) -> None:
    from zoo.files.weights import open_weights
    from zoo.serve import check_roundtrip

    check_roundtrip(open_weights(ref), "m")


def test_check_roundtrip_names_the_route_that_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.contracts.adapter import adapter_for
    from zoo.errors import UsageError, ZooError
    from zoo.files.weights import open_weights
    from zoo.serve import check_roundtrip

    loaded = open_weights("tabular.linear")

    def broken(*args: object, **kwargs: object) -> None:
        raise UsageError("this predict is broken")

    monkeypatch.setattr(type(adapter_for(loaded.spec)), "predict", broken)
    with pytest.raises(ZooError, match=r"POST /v1/models/m/predict answered 400: this predict is broken"):
        check_roundtrip(loaded, "m")
