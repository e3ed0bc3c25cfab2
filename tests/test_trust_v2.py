"""``/v2`` against a real ``zoo serve``: one bad request among good ones fails alone, bodies have a deadline.

A token outside the vocabulary, a non-finite number or a header length that is not one
is a 400 for that request only; the requests it would have been batched with get their
answers as fast as they would without it. A body that never arrives is a 408, and a
SIGTERM does not wait for it.
"""

from __future__ import annotations

import json
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import torch
from serve_testkit import free_port, serving, together, train_tiny, zoo_env

from zoo.serve.batcher import Job, ModelWorker

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

#: Good requests in a burst, and how many bursts give the latency figures.
GOOD, ROUNDS = 50, 5


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("trust-v2")
    for name in ("seq.embedding", "tabular.linear"):
        train_tiny(name, work)
    return work


@pytest.fixture(scope="module")
def server(work: Path) -> Iterator[str]:
    ckpts = [work / n / "best.safetensors" for n in ("seq.embedding", "tabular.linear")]
    with serving(*ckpts, cwd=work) as base:
        yield base


def infer_url(base: str, model: str) -> str:
    return f"{base}/v2/models/{model}/infer"


def tokens(base: str, work: Path) -> tuple[int, int]:
    """The window length seq.embedding takes (from /v2) and its vocabulary size (from its checkpoint)."""
    from zoo.files.weights import open_weights

    length = int(httpx.get(f"{base}/v2/models/seq.embedding").json()["inputs"][0]["shape"][1])
    meta = open_weights(str(work / "seq.embedding" / "best.safetensors")).metadata
    return length, len(meta["data_meta"]["vocab"])


def body(row: list[int]) -> dict[str, Any]:
    return {"inputs": [{"name": "input", "shape": [1, len(row)], "datatype": "INT64", "data": row}]}


def refused(r: Any, status: int, *phrases: str) -> str:
    assert r.status_code == status, r.text
    message = str(r.json()["error"])
    for phrase in phrases:
        assert phrase in message, message
    assert "Traceback" not in message and "/" not in message.replace("/v2", ""), message
    return message


def test_a_token_outside_the_vocabulary_is_a_400_naming_it(server: str, work: Path) -> None:
    length, vocab = tokens(server, work)
    url = infer_url(server, "seq.embedding")
    assert httpx.post(url, json=body([0] * length)).status_code == 200
    refused(httpx.post(url, json=body([0] * (length - 1) + [vocab])), 400, f"token index {vocab}", f"0 to {vocab - 1}")
    refused(httpx.post(url, json=body([-3] + [0] * (length - 1))), 400, "token index -3 at flat position 0")
    x = struct.pack("<f", float("nan"))
    head = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}
    ).encode()
    r = httpx.post(
        infer_url(server, "tabular.linear"),
        content=head + x,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    refused(r, 400, "non-finite value at flat position 0")


@pytest.mark.parametrize("declared", ["\u00b2", "9" * 5000, "-1", "+12", "1e3", "\u0661\u0662", "99999999999999"])
def test_any_bad_header_length_is_a_400(server: str, declared: str) -> None:
    head = json.dumps({"inputs": [{"name": "input", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]})
    raw = f"POST /v2/models/tabular.linear/infer HTTP/1.1\r\nHost: 127.0.0.1:{server.rsplit(':', 1)[1]}\r\n"
    raw += f"Content-Length: {len(head)}\r\nInference-Header-Content-Length: {declared}\r\nConnection: close\r\n\r\n"
    answer = exchange(server, raw.encode("utf-8") + head.encode())
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"Inference-Header-Content-Length" in answer and b"Traceback" not in answer


def exchange(base: str, data: bytes) -> bytes:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def p99(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=100)[98]


def timed_burst(url: str, bodies: list[dict[str, Any]]) -> list[tuple[int, float, dict[str, Any]]]:
    """``bodies`` sent together from one thread each: (status, seconds, body) per request."""
    order = iter(range(len(bodies)))

    def send(http: Any) -> tuple[int, float, dict[str, Any]]:
        mine = bodies[next(order)]
        start = time.perf_counter()
        r = http.post(url, json=mine)
        return r.status_code, time.perf_counter() - start, mine

    return together(len(bodies), send)


def test_one_bad_request_among_fifty_fails_alone_and_slows_no_one(server: str, work: Path) -> None:
    length, vocab = tokens(server, work)
    url = infer_url(server, "seq.embedding")
    good = [body([(i + j) % vocab for j in range(length)]) for i in range(GOOD)]
    bad = body([vocab + 7] * length)
    timed_burst(url, good)  # warm: threads, connections, the model's first batches
    idle: list[float] = []
    loaded: list[float] = []
    for _ in range(ROUNDS):
        idle += [s for code, s, _ in timed_burst(url, good) if code == 200]
        answers = timed_burst(url, [*good[:25], bad, *good[25:]])
        statuses = [code for code, _, sent in answers if sent is not bad]
        assert statuses == [200] * GOOD, statuses
        assert [code for code, _, sent in answers if sent is bad] == [400]
        loaded += [s for code, s, sent in answers if sent is not bad]
    assert len(idle) == GOOD * ROUNDS
    assert p99(loaded) < 2 * p99(idle), (p99(loaded), p99(idle))


def test_a_batch_that_fails_is_retried_one_by_one() -> None:
    """The worker's own fallback, for what no check can foresee: only the job that fails alone gets the error."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        if bool((x < 0).any()):
            raise IndexError("index out of range in self")
        return x * 2

    sizes: list[int] = []
    worker = ModelWorker("m", forward, max_batch=64, max_latency=0.5, on_batch=sizes.append)
    worker.arrive(5)
    release = threading.Event()
    try:
        worker.jobs.put(Job(Future(), call=lambda: release.wait(10)))  # holds the worker while the rest queue up
        rows = [torch.tensor([[1.0]]), torch.tensor([[2.0]]), torch.tensor([[-1.0]]), torch.tensor([[4.0]])]
        jobs = [Job(Future(), tensor=x) for x in rows]
        for job in jobs:
            worker.submit(job)
        release.set()  # every job is queued: the worker now finds all four waiting
        results = [job.future.exception(timeout=10) or job.future.result() for job in jobs]
    finally:
        release.set()
        worker.close()
    assert sizes == [4, 1, 1, 1, 1]  # one merged pass that failed, then each request alone
    assert isinstance(results[2], IndexError)
    assert [float(r) for i, r in enumerate(results) if i != 2] == [2.0, 4.0, 8.0]  # type: ignore[arg-type]


def test_a_slow_body_is_a_408_and_does_not_hold_up_sigterm(work: Path) -> None:
    port = free_port()
    log_path = work / f"serve-slow-{port}.log"
    ckpt = work / "tabular.linear" / "best.safetensors"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zoo", "serve", str(ckpt), "--port", str(port)],
            cwd=work,
            env=zoo_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                if httpx.get(base + "/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        head = f"POST /v2/models/tabular.linear/infer HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        head += "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
        start = time.monotonic()
        answer = exchange(base, head.encode())
        assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 20 s" in answer, answer[:300]
        assert time.monotonic() - start < 30
        with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
            slow.sendall(head.encode())
            assert requests_in_progress(base, 1), "the server never started reading the slow body"
            proc.send_signal(signal.SIGTERM)
            start = time.monotonic()
            answer = slow.recv(4096)
            while b"stopping" not in answer and (more := slow.recv(4096)):  # the body may come apart
                answer += more
            answered_after = time.monotonic() - start
            assert proc.wait(timeout=15) == 0  # the process itself exits well before the body's 20 s
        assert answered_after < 5, "SIGTERM waited for a body that was not coming"
        assert answer.startswith(b"HTTP/1.1 503") and b"stopping" in answer, answer[:300]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    text = log_path.read_text()
    assert "Traceback" not in text and "CancelledError" not in text, text


def requests_in_progress(base: str, count: int, seconds: float = 30) -> bool:
    """Whether the server reports ``count`` requests in progress within ``seconds`` (GET /metrics)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if f"zoo_requests_in_progress {float(count)}" in httpx.get(base + "/metrics", timeout=5).text:
            return True
        time.sleep(0.05)
    return False


def test_an_origin_is_this_server_only_with_its_scheme_host_and_port(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    for origin in (
        "http://localhost",
        "http://127.0.0.1",
        "http://127.0.0.1:80",
        f"https://127.0.0.1:{port}",
        f"http://127.0.0.1:{port + 1}",
        f"ftp://127.0.0.1:{port}",
    ):
        r = httpx.get(server + "/healthz", headers={"origin": origin})
        assert r.status_code == 403 and "are not accepted" in r.json()["error"], (origin, r.text)
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"):
        assert httpx.get(server + "/healthz", headers={"origin": origin}).status_code == 200, origin


def test_server_paths_are_cut_from_messages_and_urls_are_kept() -> None:
    from zoo.serve.http import public

    here = Path(__file__).resolve()
    gone = here.parent / "upload-0123.png"  # a temporary file already removed: its folder exists
    text = f"{here}: not a picture we can read ({gone}); GET /v1/models lists them, see /v2/models/x"
    assert public(text) == (
        f"{here.name}: not a picture we can read ({gone.name}); GET /v1/models lists them, see /v2/models/x"
    )
