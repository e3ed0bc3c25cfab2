"""One bad ``/v2`` request among good ones: the good ones' latency with and without it.

Serves the published ``seq.embedding`` weights and sends rounds of 50 good requests
released together (one thread and keep-alive connection each), alternating rounds of
50 good requests alone and rounds where one more request holds a token outside the
vocabulary. Prints one JSON object: the statuses seen and p50/p99 in ms of the good
requests in each kind of round.

    python benchmarks/serve_isolation.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any

GOOD = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"zoo serve exited {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v2/health/ready")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit("zoo serve did not become ready")


def burst(port: int, bodies: list[bytes]) -> list[tuple[int, float, bool]]:
    """Every body sent at once from its own thread: (status, seconds, good) each."""
    gate = threading.Barrier(len(bodies))
    out: list[tuple[int, float, bool]] = []

    def send(body: bytes, good: bool) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.connect()
        gate.wait()
        start = time.perf_counter()
        conn.request("POST", "/v2/models/seq.embedding/infer", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        out.append((response.status, time.perf_counter() - start, good))
        conn.close()

    threads = [threading.Thread(target=send, args=(b, i != GOOD)) for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def body(row: list[int]) -> bytes:
    item = {"name": "input", "shape": [1, len(row)], "datatype": "INT64", "data": row}
    return json.dumps({"inputs": [item]}).encode()


def figures(seconds: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(seconds, n=100)
    return {"p50_ms": round(cuts[49] * 1000, 2), "p99_ms": round(cuts[98] * 1000, 2), "requests": len(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from zoo.files.weights import open_weights

    vocab = len(open_weights("seq.embedding").metadata["data_meta"]["vocab"])
    port = free_port()
    env = {**os.environ, "ZOO_DATA_DIR": tempfile.mkdtemp()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", "serve", "seq.embedding", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, proc)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", "/v2/models/seq.embedding")
        length = json.loads(conn.getresponse().read())["inputs"][0]["shape"][1]
        good = [body([(i + j) % vocab for j in range(length)]) for i in range(GOOD)]
        bad = body([vocab + 7] * length)
        burst(port, good)  # warm up
        alone: list[float] = []
        mixed: list[float] = []
        statuses: Counter[str] = Counter()
        for _ in range(args.rounds):
            alone += [s for code, s, _ in burst(port, good) if code == 200]
            for code, s, is_good in burst(port, [*good, bad]):
                statuses[f"{'good' if is_good else 'bad'} {code}"] += 1
                if is_good:
                    mixed.append(s)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result: dict[str, Any] = {
        "model": "seq.embedding (published weights)",
        "rounds": args.rounds,
        "statuses_in_mixed_rounds": dict(statuses),
        "good_alone": figures(alone),
        "good_beside_one_bad": figures(mixed),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
