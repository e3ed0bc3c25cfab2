"""Load on ``zoo serve``: requests/s and latency percentiles, dynamic batching on and off, ``/v1`` and ``/v2``.

Serves the published ``vision.cnn`` weights twice (``--max-batch-size 32`` and ``1``)
and, for 1, 8 and 32 concurrent clients, sends single-image requests: ``/v1`` with a
base64 PNG (decoded and framed by the server), ``/v2`` with the normalized 1x28x28
tensor as JSON data and as binary tensor data. Each client is a thread with its own
keep-alive connection (``http.client``, the lightest client in the standard library).
Prints one JSON object: per run the rate, p50/p90/p99 in ms, and the CPU seconds per
request of the server and of this load generator.

    python benchmarks/serve_load.py [--requests 300] [--seconds 10] [--clients 1,8,32]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import resource
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from serve_testkit import serving  # noqa: E402

DIGIT = ROOT / "packages/zoo-vision/src/zoo_vision/examples/digit-7.png"


def bodies() -> dict[str, tuple[bytes, dict[str, str]]]:
    """One request per route: its body and headers."""
    from zoo.use.export import load_ref
    from zoo_vision.images import load_digit
    from zoo_vision.mnist import normalize

    meta = load_ref("vision.cnn").metadata.get("data_meta", {})
    x = normalize(load_digit(DIGIT).pixels[None], meta.get("mean", 0.1307), meta.get("std", 0.3081))
    values = x.reshape(-1).tolist()
    tensor = {"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32"}
    v1 = json.dumps({"inputs": [base64.b64encode(DIGIT.read_bytes()).decode()]}).encode()
    v2_json = json.dumps({"inputs": [{**tensor, "data": values}]}).encode()
    head = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": 4 * len(values)}}],
                       "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()  # fmt: skip
    v2_binary = head + struct.pack(f"<{len(values)}f", *values)
    return {
        "v1 image": (v1, {"Content-Type": "application/json"}),
        "v2 json": (v2_json, {"Content-Type": "application/json"}),
        "v2 binary": (v2_binary, {"Inference-Header-Content-Length": str(len(head))}),
    }


PATHS = {"v1 image": "/v1/models/vision.cnn/predict", "v2 json": "/v2/models/vision.cnn/infer"}
PATHS["v2 binary"] = PATHS["v2 json"]


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, route: str, clients: int, total: int, seconds: float, pid: int) -> dict[str, Any]:
    body, headers = bodies_cache[route]
    path = PATHS[route]
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    left = [total]
    stop_at = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if left[0] <= 0 or time.monotonic() > stop_at:
                    break
                left[0] -= 1
            start = time.perf_counter()
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            took = time.perf_counter() - start
            with lock:
                latencies.append(took)
                failures[0] += response.status != 200
        conn.close()

    cpu0, own0 = server_cpu(pid), _own_cpu()
    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    n = len(latencies)
    cuts = statistics.quantiles(latencies, n=100) if n > 1 else latencies * 99
    return {
        "route": route,
        "clients": clients,
        "requests": n,
        "failed": failures[0],
        "rps": round(n / wall, 1),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p90_ms": round(cuts[89] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "server_cpu_ms_per_request": round((server_cpu(pid) - cpu0) / max(n, 1) * 1000, 3),
        "client_cpu_ms_per_request": round((_own_cpu() - own0) / max(n, 1) * 1000, 3),
    }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


bodies_cache: dict[str, tuple[bytes, dict[str, str]]] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per run, at most")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per run, at most")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    args = parser.parse_args()
    bodies_cache.update(bodies())
    work = Path(tempfile.mkdtemp(prefix="zoo-load-"))
    runs = []
    for batch in (32, 1):
        with serving("vision.cnn", cwd=work, args=("--max-batch-size", str(batch))) as base:
            port = int(base.rsplit(":", 1)[1])
            pid = _pid_on(port)
            for route in bodies_cache:
                for clients in (int(c) for c in args.clients.split(",")):
                    load(port, route, clients, min(20, args.requests), args.seconds, pid)  # warm up
                    result = load(port, route, clients, args.requests, args.seconds, pid)
                    runs.append({"max_batch_size": batch, **result})
                    print(json.dumps(runs[-1]), file=sys.stderr)
    machine = {"cpus": len(os.sched_getaffinity(0)), "threads": os.environ.get("OMP_NUM_THREADS")}
    print(json.dumps({"machine": machine, "runs": runs}, indent=1))


def _pid_on(port: int) -> int:
    """The server process listening on ``port`` (the load generator's own children)."""
    import subprocess

    for line in subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(os.getpid())],
                               capture_output=True, text=True).stdout.splitlines():  # fmt: skip
        pid, _, command = line.strip().partition(" ")
        if f"--port {port}" in command:
            return int(pid)
    raise SystemExit(f"no server process found for port {port}")


if __name__ == "__main__":
    main()
