"""What hostile pictures cost: each bound's CPU time and memory, and serve's latency beside a bad picture.

In this process, for each case: the CPU seconds and the peak memory growth of
``zoo_vision.images.decode_gray`` (a refused picture costs its checks only), then the scan
of a folder of 100,000 one-picture classes. Then ``zoo serve vision.cnn``: the p50/p99
latency of 50 good ``/v1`` uploads from 4 clients, alone and with one bad picture sent
among them. Prints one JSON object.

    python benchmarks/bad_pictures.py [--classes 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "packages/zoo-vision/tests"))
from picture_bombs import icon, jpeg_declaring, progressive_jpeg  # noqa: E402
from serve_testkit import serving  # noqa: E402
from test_serve_pictures import digit, good_round, p99, scan_bomb, slow_picture  # noqa: E402


def decode_cost(data: bytes) -> dict[str, Any]:
    from zoo.errors import DataError
    from zoo_vision.images import decode_gray

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.thread_time()
    try:
        decode_gray(data, "picture")
        outcome = "decoded"
    except DataError as exc:
        outcome = exc.message.split(": ", 1)[1][:70]
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    return {"bytes": len(data), "cpu_s": round(time.thread_time() - started, 3), "peak_growth_mb": grown // 1024,
            "outcome": outcome}  # fmt: skip


def noise_png(side: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


def scan_cost(classes: int) -> dict[str, Any]:
    from zoo_vision import folder

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(classes):
            os.mkdir(Path(tmp) / f"c{i:06d}")
            (Path(tmp) / f"c{i:06d}" / "a.png").write_bytes(b"")
        started = time.perf_counter()
        folder.scan(Path(tmp))
        return {"classes": classes, "scan_s": round(time.perf_counter() - started, 2)}


def serve_latency() -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, serving("vision.cnn", cwd=Path(tmp)) as base:
        url = base + "/v1/models/vision.cnn/predict"
        good_round(url)
        idle, _ = good_round(url)
        out["idle"] = {"p50_ms": round(sorted(s for _, s, _ in idle)[len(idle) // 2] * 1000, 1),
                       "p99_ms": round(p99([s for _, s, _ in idle]) * 1000, 1)}  # fmt: skip
        for name, bad in (("scan bomb", scan_bomb()), ("slow picture", slow_picture())):
            mixed, refused = good_round(url, bad)
            out[name] = {"bad_status": refused[0], "bad_ms": round(refused[1] * 1000, 1),
                         "good_ok": sum(s == 200 for s, _, _ in mixed),
                         "p99_ms": round(p99([s for _, s, _ in mixed]) * 1000, 1)}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100_000)
    args = parser.parse_args()
    assert digit()
    cases = {
        "progressive JPEG, 2048 px, 3,006 scans": progressive_jpeg(2048, 3000),
        "JPEG declaring 13376 x 13376": jpeg_declaring(13376, 13376),
        "ICO 64 x 64": icon(),
        "PNG of noise, 4096 x 4096 (the pixel limit)": noise_png(4096),
        "progressive JPEG, 4096 px, 6 scans": progressive_jpeg(4096),
    }
    result = {"decode": {name: decode_cost(data) for name, data in cases.items()}}
    result["class_scan"] = scan_cost(args.classes)
    result["serve"] = serve_latency()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
