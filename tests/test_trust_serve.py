"""Hostile requests to a real ``zoo serve`` on 127.0.0.1: each is a clear 4xx, cheap, and isolated.

A small picture that declares a huge size, a request fired from another web page, numbers
JSON cannot hold, a few kilobytes asking for minutes of work, slow or vanishing clients:
none may cost the server more than a bounded amount of memory and time, or end in a 500.
"""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from serve_testkit import run_zoo, serving, train_tiny, zoo_env

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

FEW = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSON = {"content-type": "application/json"}


def rewrite(src: Path, dst: Path, field: str, change: dict[str, object]) -> Path:
    """A copy of ``src`` whose JSON metadata ``field`` has ``change`` merged in (written as Python's json does)."""
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
    meta[field] = json.dumps({**json.loads(meta[field]), **change})
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("trust-serve")
    for name in ("tabular.linear", "vision.cnn", "seq.rnn"):
        train_tiny(name, work)
    return work


@pytest.fixture(scope="module")
def server(work: Path) -> Iterator[str]:
    cnn = work / "vision.cnn" / "best.safetensors"
    infinite = rewrite(cnn, work / "inf-metrics.safetensors", "metrics", {"val_loss": float("inf")})
    ckpts = [work / n / "best.safetensors" for n in ("tabular.linear", "seq.rnn")]
    with serving(*ckpts, cnn, infinite, cwd=work) as base:
        yield base


def url(base: str, model: str) -> str:
    return f"{base}/v1/models/{model}/predict"


def refused(response: Any, status: int, *phrases: str) -> str:
    assert response.status_code == status, response.text
    message = str(response.json()["error"])
    for phrase in phrases:
        assert phrase in message
    return message


def bomb_png(side: int = 13_000) -> bytes:
    """A 1-bit PNG of side x side pixels: a few tens of KB that would decode to hundreds of MB."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (side, side), 0).save(buf, format="PNG")
    return buf.getvalue()


def log_of(work: Path, base: str) -> str:
    return (work / f"serve-{base.rsplit(':', 1)[1]}.log").read_text()


# -- images -----------------------------------------------------------------------------
def test_image_bomb_is_refused_before_decoding(server: str, work: Path) -> None:
    bomb = bomb_png()
    assert len(bomb) < 700_000
    r = httpx.post(url(server, "vision.cnn"), json={"inputs": [base64.b64encode(bomb).decode()]})
    refused(r, 400, "13000 x 13000", "16,777,216 pixels")
    r = httpx.post(url(server, "vision.cnn"), files={"file": ("big.png", bomb, "image/png")})
    message = refused(r, 400, "big.png", "13000 x 13000")
    assert "/tmp" not in message and "zoo-serve-" not in message


def test_many_large_images_are_refused_together(server: str) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (4000, 4000), 0).save(buf, format="PNG")
    image = base64.b64encode(buf.getvalue()).decode()
    r = httpx.post(url(server, "vision.cnn"), json={"inputs": [image] * 5})
    refused(r, 400, "80,000,000 pixels together", "limit per request is 67,108,864")


def test_upload_errors_name_the_upload_not_a_temporary_file(server: str) -> None:
    r = httpx.post(url(server, "vision.cnn"), files={"file": ("my digit.png", b"not a picture", "image/png")})
    message = refused(r, 400, "my digit.png", "is not an image")
    assert "/tmp" not in message and "zoo-serve-" not in message
    r = httpx.post(url(server, "vision.cnn"), json={"inputs": ["bm90IGFuIGltYWdl"]})
    assert "zoo-serve-" not in refused(r, 400, "image 1")


def test_predict_cli_refuses_the_bomb_with_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(bomb_png())
    proc = run_zoo("predict", "vision.cnn", str(big), cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
    assert "big.png" in proc.stderr and "13000 x 13000" in proc.stderr and "16,777,216 pixels" in proc.stderr


# -- cross-site requests ------------------------------------------------------------------
def test_only_json_and_multipart_bodies_are_read(server: str) -> None:
    body = b'{"inputs": [1]}'
    for kind in ("text/plain", "application/x-www-form-urlencoded", ""):
        r = httpx.post(url(server, "tabular.linear"), content=body, headers={"content-type": kind})
        refused(r, 415, "must be JSON")
    r = httpx.post(url(server, "tabular.linear"), content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text


def test_foreign_host_and_origin_are_refused(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    target = url(server, "tabular.linear")
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1", "127.0.0.1.evil.example", "[::2]"):
        r = httpx.post(target, json={"inputs": [1]}, headers={"host": host})
        refused(r, 403, "does not answer to the Host")
    assert httpx.get(server + "/v1/models", headers={"host": "attacker.test"}).status_code == 403
    for host in (f"localhost:{port}", f"[::1]:{port}", "localhost"):
        assert httpx.post(target, json={"inputs": [1]}, headers={"host": host}).status_code == 200
    for origin in ("http://evil.example", "null", f"http://evil.example:{port}"):
        r = httpx.post(target, json={"inputs": [1]}, headers={"origin": origin})
        refused(r, 403, "not accepted")
    assert httpx.post(target, json={"inputs": [1]}, headers={"origin": server}).status_code == 200


@FEW
@given(host=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-:[]", min_size=1, max_size=40))
def test_any_other_host_is_refused(server: str, host: str) -> None:
    port = server.rsplit(":", 1)[1]
    ours = {name + suffix for name in ("127.0.0.1", "localhost", "[::1]") for suffix in ("", f":{port}")}
    r = httpx.get(server + "/healthz", headers={"host": host})
    assert r.status_code == (200 if host in ours else 403)


# -- user errors are 4xx ------------------------------------------------------------------
def test_hostile_json_is_a_clear_400(server: str) -> None:
    target = url(server, "seq.rnn")
    cases = {
        b'{"inputs": ' + b"[" * 50_000 + b"]" * 50_000 + b"}": "nested more than 64",
        b'{"inputs": [' + b"7" * 5000 + b"]}": "5000 digits",
        b'{"inputs": ["hello"], "options": {"top": 1e999}}': "1e999",
        b'{"inputs": ["hello"], "options": {"temperature": NaN}}': "NaN",
    }
    for body, phrase in cases.items():
        refused(httpx.post(target, content=body, headers=JSON), 400, phrase)
    r = httpx.post(target, json={"inputs": ["hello"], "options": {"seed": 2**64}})
    refused(r, 400, "seed must be between 0 and 2**63 - 1")
    r = httpx.post(url(server, "tabular.linear"), json={"inputs": [10**400]})
    refused(r, 400, "too large")


def test_bad_multipart_options_and_files_for_other_models(server: str) -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
    )
    for options in ("[1,2]", "5", '"top"'):
        r = httpx.post(url(server, "vision.cnn"), data={"options": options}, files={"file": ("a.png", png)})
        refused(r, 400, "options field must be a JSON object")
    for model, takes in (("tabular.linear", "numbers"), ("seq.rnn", "text")):
        r = httpx.post(url(server, model), files={"file": ("data.txt", b"hello")})
        refused(r, 400, "data.txt", f"is a file, but this model takes {takes}")


def test_infinite_outputs_are_null_and_flagged(server: str) -> None:
    r = httpx.post(url(server, "tabular.linear"), json={"inputs": [3e38, 1.0]})
    assert r.status_code == 200, r.text
    text = r.text
    assert "Infinity" not in text and "NaN" not in text
    big, normal = json.loads(text)
    assert big["output"] is None and big["nonfinite"] is True
    assert normal["output"] is not None and "nonfinite" not in normal


@FEW
@given(
    options=st.dictionaries(
        st.sampled_from(["top", "generate", "seed", "temperature"]),
        st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8) | st.booleans()
        | st.lists(st.integers(), max_size=2) | st.none(),
        max_size=4,
    ),
    inputs=st.lists(st.text(max_size=8) | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
                    min_size=0, max_size=3),
)  # fmt: skip
def test_any_options_are_answered_or_refused_never_500(server: str, options: dict, inputs: list) -> None:
    for model in ("seq.rnn", "tabular.linear"):
        r = httpx.post(url(server, model), json={"inputs": inputs, "options": options}, timeout=60)
        assert r.status_code in (200, 400), r.text
        r.json()


# -- descriptions ---------------------------------------------------------------------------
def test_a_checkpoint_with_infinite_metrics_is_listed_without_them(server: str) -> None:
    r = httpx.get(server + "/v1/models")
    assert r.status_code == 200 and "Infinity" not in r.text
    models = {m["name"]: m for m in r.json()["models"]}
    assert "val_loss" not in models["vision.cnn-2"]["metrics"] and "val_loss" in models["vision.cnn"]["metrics"]
    assert httpx.get(server + "/v1/models/vision.cnn-2").status_code == 200
    assert httpx.get(server + "/").status_code == 200


def test_a_checkpoint_whose_image_size_is_text_is_refused_at_startup(work: Path) -> None:
    bad = rewrite(work / "vision.cnn" / "best.safetensors", work / "text-size.safetensors", "data_meta",
                  {"image_size": "large"})  # fmt: skip
    proc = run_zoo("serve", str(bad), "--port", "0", cwd=work, check=False, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "text-size.safetensors" in proc.stderr


# -- cost ---------------------------------------------------------------------------------
def test_work_per_request_is_bounded_before_it_starts(server: str) -> None:
    target = url(server, "seq.rnn")
    r = httpx.post(target, json={"inputs": ["hello"] * 64, "options": {"generate": 2000}})
    refused(r, 400, "limit per request is 16,000")
    r = httpx.post(target, json={"inputs": ["hello" * 100_000]})
    refused(r, 400, "500,000 characters", "limit per input is 4,000")
    r = httpx.post(url(server, "tabular.linear"), json={"inputs": [[1.0] * 5000]})
    refused(r, 400, "limit per input is 1,024")


def test_mixed_concurrent_requests_get_their_own_answers(server: str) -> None:
    def one(i: int) -> bool:
        if i % 3 == 0:
            r = httpx.post(url(server, "tabular.linear"), json={"inputs": [i]}, timeout=60)
            return r.status_code == 200 and r.json()[0]["values"] == [float(i)]
        if i % 3 == 1:
            r = httpx.post(url(server, "tabular.linear"), json={"inputs": [f"x{i}"]}, timeout=60)
            return r.status_code == 400 and f"x{i}" in r.json()["error"]
        r = httpx.post(url(server, "seq.rnn"), json={"inputs": ["hel" * (i % 5 + 1)]}, timeout=60)
        return r.status_code == 200 and r.json()[0]["input"] == "hel" * (i % 5 + 1)

    with ThreadPoolExecutor(12) as pool:
        assert all(pool.map(one, range(48)))


# -- connections ----------------------------------------------------------------------------
def raw(base: str, data: bytes) -> socket.socket:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(data)
    return sock


def test_slow_headers_are_cut_off_and_vanishing_clients_leave_no_traceback(server: str, work: Path) -> None:
    port = server.rsplit(":", 1)[1]
    head = f"POST /v1/models/vision.cnn/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    form = b"Content-Type: multipart/form-data; boundary=zz\r\nContent-Length: 5000\r\n\r\n--zz\r\n"
    with raw(server, head + form + b'Content-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nab'):
        pass  # closed halfway through the body
    with raw(server, head + b"Content-Type: application/json\r\nContent-Length: 900\r\n\r\n{") as sock:
        sock.shutdown(socket.SHUT_WR)
    chunked = b"Content-Type: multipart/form-data; boundary=zz\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    with raw(server, head + chunked) as sock:
        answer = ""
        for _ in range(10):  # the head and the body may come in separate pieces
            answer += sock.recv(4096).decode()
            if answer.endswith("}"):
                break
    assert answer.startswith("HTTP/1.1 411") and "needs a Content-Length header" in answer
    with raw(server, b"GET /healthz HTTP/1.1\r\nX-Slow: ") as sock:
        assert sock.recv(100) == b""  # closed by the server, not by this socket's 30 s timeout
    assert httpx.get(server + "/healthz").status_code == 200
    log = log_of(work, server)
    assert "Traceback" not in log and "Exception" not in log, log


def test_port_zero_prints_the_real_port_and_timeout_and_allow_host_apply(work: Path) -> None:
    ckpt = work / "seq.rnn" / "best.safetensors"
    log = work / "port0.log"
    args = ["serve", str(ckpt), "--port", "0", "--allow-host", "zoo.test", "--timeout", "0.001"]
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "zoo", *args], cwd=work, env=zoo_env(), stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        for _ in range(240):
            found = re.search(r"on http://127\.0\.0\.1:(\d+)/", log.read_text())
            if found or proc.poll() is not None:
                break
            time.sleep(0.25)
        assert found, log.read_text()
        port = int(found.group(1))
        assert port != 0
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/healthz", headers={"host": f"zoo.test:{port}"}).status_code == 200
        assert httpx.get(base + "/healthz", headers={"host": "other.test"}).status_code == 403
        r = httpx.post(url(base, "seq.rnn"), json={"inputs": ["hello" * 800]}, timeout=60)
        refused(r, 504, "0.001 s limit")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_ipv6_addresses_are_written_in_brackets() -> None:
    from zoo.serve.guard import allowed_hosts, host_ok, url_host

    assert url_host("::1") == "[::1]" and url_host("127.0.0.1") == "127.0.0.1" and url_host("host.lan") == "host.lan"
    allowed = allowed_hosts("::", ["myhost.lan"])
    assert host_ok("[::]:8000", allowed, 8000) and host_ok("MyHost.lan:8000", allowed, 8000)
    assert not host_ok("::1", allowed, 8000) and not host_ok("[::]:8001", allowed, 8000)
