"""zoo serve decodes pictures ahead of the model's queue: a bad picture costs its own request only.

A real server on 127.0.0.1 with the published vision.cnn weights. One hostile picture (a
progressive JPEG of thousands of scans, or a legal picture that is slow to decode) is sent
among 50 good requests: every good one gets 200, and their p99 latency stays under twice
the p99 measured without it; the bad one gets 400 naming the upload, no server path.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from serve_testkit import serving

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
Image = pytest.importorskip("PIL.Image")

GOOD = 50
CLIENTS = 4


def png(img: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def digit() -> bytes:
    img = Image.new("L", (28, 28), 0)
    img.paste(255, (12, 4, 16, 24))  # a bar: a one
    return png(img)


def scan_bomb() -> bytes:
    """A progressive JPEG with its last scan repeated 3,000 times: each repeat is a pass over every block."""
    out = io.BytesIO()
    Image.linear_gradient("L").resize((2048, 2048)).save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    last = data.rfind(b"\xff\xda")
    return data[:-2] + data[last:-2] * 3000 + b"\xff\xd9"


def slow_picture() -> bytes:
    """A legal 4096 x 4096 picture of noise bands (about 1 MB): costly to inflate, within every limit."""
    rows = [bytes((x * 7919 + y * 104729) % 251 for x in range(4096)) for y in range(64)]
    band = Image.frombytes("L", (4096, 64), b"".join(rows))
    img = Image.new("L", (4096, 4096))
    for y in range(0, 4096, 64):
        img.paste(band, (0, y))
    return png(img)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("serve-pictures")
    with serving("vision.cnn", cwd=work, env={"ZOO_LOAD_PLUGINS": "vision"}) as base:
        yield base + "/v1/models/vision.cnn/predict"


def send(url: str, data: bytes, name: str) -> tuple[int, float, Any]:
    started = time.perf_counter()
    with httpx.Client(timeout=120) as http:
        r = http.post(url, files={"file": (name, data, "image/png")})
    return r.status_code, time.perf_counter() - started, r.json()


def p99(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def good_round(url: str, bad: bytes | None = None) -> tuple[list[tuple[int, float, Any]], Any]:
    """GOOD good requests from CLIENTS clients; ``bad`` sent first, alongside them."""
    good = digit()
    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        refused = pool.submit(send, url, bad, "bad.jpg") if bad is not None else None
        answers = list(pool.map(lambda _: send(url, good, "one.png"), range(GOOD)))
    return answers, refused.result() if refused is not None else None


@pytest.mark.parametrize("kind", ["scan bomb", "slow picture"])
def test_one_bad_picture_does_not_hold_the_good_requests(server: str, kind: str) -> None:
    good_round(server)  # warm up: the first requests build torch's kernels
    idle, _ = good_round(server)
    assert all(status == 200 for status, _, _ in idle)
    bad = scan_bomb() if kind == "scan bomb" else slow_picture()
    assert len(bad) < 2 * 1024 * 1024
    mixed, refused = good_round(server, bad)
    assert [status for status, _, _ in mixed] == [200] * GOOD
    assert all(body[0]["output"] == 1 for _, _, body in mixed)
    status, _, body = refused
    if kind == "scan bomb":
        assert status == 400 and "upload 1 (bad.jpg)" in body["error"] and "scans" in body["error"]
        assert "/" not in body["error"].replace("bad.jpg", "")
    else:
        assert status == 200  # legal, only slow: it is answered too
    idle_p99 = p99([s for _, s, _ in idle])
    mixed_p99 = p99([s for _, s, _ in mixed])
    assert mixed_p99 < 2 * idle_p99, f"p99 {mixed_p99:.3f} s with the {kind}, {idle_p99:.3f} s without"


def test_pictures_zoo_cannot_read_are_refused_by_name_without_a_server_path(server: str) -> None:
    icon = io.BytesIO()
    Image.new("RGB", (64, 64)).save(icon, "ICO")
    status, _, body = send(server, icon.getvalue(), "icon.png")
    assert status == 400 and "ICO, a format zoo-vision does not read" in body["error"]
    status, _, body = send(server, b"GIF89a" + b"\x00" * 20, "cut.gif")
    assert status == 400 and "upload 1 (cut.gif): is not an image we can read" in body["error"]
    assert "data_meta" not in body["error"] and "site-packages" not in str(body)
    payload = base64.b64encode(digit()).decode()
    with httpx.Client(timeout=60) as http:
        r = http.post(server, json={"inputs": [payload, payload]})
    assert r.status_code == 200 and [row["input"] for row in r.json()] == ["image 1", "image 2"]
