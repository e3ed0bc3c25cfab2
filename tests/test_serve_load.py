"""``zoo serve`` under load, as a real process: a full queue is refused with 503, SIGTERM drains.

Load loops are bounded in count (rounds of requests released together), never in time.
"""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_testkit import free_port, together, zoo_env

pytest.importorskip("uvicorn")
parser = pytest.importorskip("prometheus_client.parser")

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "packages/zoo-vision/src/zoo_vision/examples").glob("*.png"))
#: One /v1 request: every example digit, four times (40 images to frame and predict).
BODY = {"inputs": [base64.b64encode(p.read_bytes()).decode() for p in EXAMPLES] * 4, "options": {"top": 3}}


class Server:
    """``zoo serve vision.cnn ARGS`` on a free port, its output in ``log``."""

    def __init__(self, work: Path, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = work / f"serve-{self.port}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "zoo", "serve", "vision.cnn", "--port", str(self.port), *args],
                cwd=work,
                env=zoo_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        for _ in range(400):  # until it answers, or it ended
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text())
            try:
                if httpx.get(self.base + "/v2/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise AssertionError("zoo serve did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def gauge(self, name: str) -> float:
        text = httpx.get(self.base + "/metrics").text
        return sum(s.value for f in parser.text_string_to_metric_families(text) for s in f.samples if s.name == name)


def burst(url: str, n: int, body: dict[str, Any]) -> list[httpx.Response]:
    """``n`` requests released together from ``n`` threads; every answer, in no particular order."""
    return together(n, lambda http: http.post(url, json=body))


def test_a_full_queue_is_a_503_with_retry_after(tmp_path: Path) -> None:
    server = Server(tmp_path, "--max-queue", "1", "--max-batch-size", "1")
    try:
        url = server.base + "/v1/models/vision.cnn/predict"
        refused: list[httpx.Response] = []
        for _ in range(10):  # rounds of 24 requests for a worker that holds one running and one waiting
            answers = burst(url, 24, BODY)
            assert {r.status_code for r in answers} <= {200, 503}, [r.text for r in answers]
            refused = [r for r in answers if r.status_code == 503]
            if refused:
                break
        assert refused, "24 requests at once never filled a queue of one"
        assert refused[0].headers["retry-after"] == "1"
        # whichever queue fills first: the model's (one waiting) or the shared picture decoding's
        error = refused[0].json()["error"]
        assert re.search(r"\d+ requests are already waiting for (vision\.cnn|picture decoding)", error), error
        assert server.gauge("zoo_requests_total") >= 24
        text = httpx.get(server.base + "/metrics").text
        counted = r'zoo_requests_total\{model="vision.cnn",route="/v1/models/\{name\}/predict",status="503"\}'
        assert re.search(counted, text)
        ok = httpx.post(url, json=BODY, timeout=120)  # and it still answers once the burst is over
        assert ok.status_code == 200 and len(ok.json()) == len(BODY["inputs"])
    finally:
        server.stop()


def test_sigterm_answers_what_is_in_flight_then_exits_0(tmp_path: Path) -> None:
    server = Server(tmp_path, "--max-batch-size", "1")
    url = server.base + "/v1/models/vision.cnn/predict"
    answers: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: answers.extend(burst(url, 12, BODY)))
    sender.start()
    try:
        for _ in range(2000):  # until requests are in progress (or all of them already ended)
            if server.gauge("zoo_requests_in_progress") >= 2 or not sender.is_alive():
                break
        server.proc.send_signal(signal.SIGTERM)
        sender.join()
        assert server.proc.wait(timeout=120) == 0
    finally:
        server.stop()
    log = server.log.read_text()
    assert [r.status_code for r in answers] == [200] * 12, log
    assert all(len(r.json()) == len(BODY["inputs"]) for r in answers)
    found = re.search(r"answering the (\d+) request\(s\) in progress first", log)
    assert found and int(found.group(1)) >= 1, log
    assert "stopped" in log and "Traceback" not in log, log
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base + "/healthz")
