"""What zoo costs on a tiny model: ``zoo train tabular.logistic --recipe seed -q`` against ``import torch``.

Both are whole fresh processes, timed from start to exit, alternating, ``--repeat``
times; the medians are compared. zoo draws ``curves.png`` in a background process
after it exits; the next timing waits for that drawing to end. The goal is a ratio of at most 2: training the notes'
three-point logistic regression should cost little more than starting torch.

    python benchmarks/tiny_overhead.py --repeat 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from settle import settle


def timed(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env["ZOO_LOAD_PLUGINS"] = "tabular"
    torch_cmd = [sys.executable, "-c", "import torch"]
    zoo_times, torch_times = [], []
    with tempfile.TemporaryDirectory(prefix="tiny-") as tmp:
        timed(torch_cmd, env, tmp)  # warm the file cache once, for both
        for i in range(args.repeat):
            out = str(Path(tmp) / f"run{i}")
            zoo_cmd = [sys.executable, "-m", "zoo", "train", "tabular.logistic", "--recipe", "seed", "-q"]
            torch_times.append(timed(torch_cmd, env, tmp))
            zoo_times.append(timed([*zoo_cmd, "--out", out], env, tmp))
            settle(Path(out) / "curves.png")
    zoo_median, torch_median = statistics.median(zoo_times), statistics.median(torch_times)
    print(
        json.dumps(
            {
                "benchmark": "tiny model overhead",
                "zoo_command": "zoo train tabular.logistic --recipe seed -q",
                "repeat": args.repeat,
                "zoo_seconds": [round(t, 3) for t in zoo_times],
                "import_torch_seconds": [round(t, 3) for t in torch_times],
                "zoo_median_s": round(zoo_median, 3),
                "import_torch_median_s": round(torch_median, 3),
                "ratio": round(zoo_median / torch_median, 2),
                "goal": "<= 2.0",
                "meets_goal": zoo_median / torch_median <= 2.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
