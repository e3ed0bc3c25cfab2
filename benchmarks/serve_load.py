"""Load check for ``zoo serve``: requests per second and latency percentiles for the CNN on the CPU.

Starts ``zoo serve`` on a free 127.0.0.1 port with a vision.cnn checkpoint (given, or
trained for a moment on synthetic digits), then N client threads post one 28x28 PNG
each request for a bounded number of requests or seconds. Prints JSON.

    python benchmarks/serve_load.py [--checkpoint CKPT] [--clients 4] [--requests 400] [--seconds 30]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serve_testkit import serving, train_tiny


def digit_png() -> str:
    from PIL import Image, ImageDraw

    img = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(img).line((14, 4, 13, 24), fill=255, width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="a vision.cnn checkpoint (default: train a tiny one)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--requests", type=int, default=400, help="total requests, at most")
    parser.add_argument("--seconds", type=float, default=30.0, help="stop after this long, at most")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zoo-load-"))
    ckpt = args.checkpoint or train_tiny("vision.cnn", work)
    body = json.dumps({"inputs": [digit_png()], "options": {"top": 3}}).encode()
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    with serving(ckpt, cwd=work) as base:
        url = base + "/v1/models/vision.cnn/predict"
        deadline = time.monotonic() + args.seconds
        remaining = [args.requests]

        def client() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
                start = time.perf_counter()
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        response.read()
                        ok = response.status == 200
                except OSError:
                    ok = False
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed) if ok else None
                    errors += 0 if ok else 1

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    print(
        json.dumps(
            {
                "model": "vision.cnn",
                "clients": args.clients,
                "requests": len(latencies),
                "errors": errors,
                "seconds": round(wall, 3),
                "requests_per_s": round(len(latencies) / wall, 1),
                "latency_ms": {
                    "p50": round(cuts[49] * 1e3, 2),
                    "p90": round(cuts[89] * 1e3, 2),
                    "p99": round(cuts[98] * 1e3, 2),
                },
                "cpu_count": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
