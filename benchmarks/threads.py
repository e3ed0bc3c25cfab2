"""How many torch threads should ``zoo train`` use by default? Three workloads at each thread count.

Workloads, each one whole ``zoo train`` command in a fresh process:

- ``diabetes``: the quick start, ``zoo train tabular.diabetes`` (its default recipe);
- ``cnn``: ``vision.cnn``, one epoch on ``--cnn-images`` MNIST training images (batch 256);
- ``table``: ``tabular.classifier`` on a generated 50,000-row, 10-column CSV, 3 epochs.

For each thread count (1 up to the CPUs this process may use, and ``auto``: no ``--threads``,
zoo's own choice) the commands alternate, ``--repeat`` times, and the JSON holds the median
training seconds (the run's epochs, from metrics.jsonl) and whole-command seconds, with
each count's ratio to the best. The machine's load average is recorded at the start and
the end: run it once on an idle machine and once while other work keeps it busy, and
label them with ``--label``.

    python benchmarks/threads.py --mnist /work/shared/data/mnist --label busy
    python benchmarks/threads.py --mnist /work/shared/data/mnist --label idle --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def table_csv(path: Path, rows: int = 50_000, columns: int = 10) -> Path:
    """A seeded table: ``columns`` numeric features and a 3-class label that depends on them."""
    rng = random.Random(0)
    with path.open("w") as handle:
        handle.write(",".join(f"f{i}" for i in range(columns)) + ",label\n")
        for _ in range(rows):
            x = [rng.gauss(0, 1) for _ in range(columns)]
            label = "abc"[int(x[0] + x[1] > 0.5) + int(x[2] - x[3] > 0.5)]
            handle.write(",".join(f"{v:.4f}" for v in x) + f",{label}\n")
    return path


def workloads(work: Path, mnist: Path, cnn_images: int) -> dict[str, list[str]]:
    from small_data import write_subsets

    subset = write_subsets(mnist, work / "mnist", [cnn_images])[cnn_images]
    table = table_csv(work / "table.csv")
    return {
        "diabetes": ["tabular.diabetes"],
        "cnn": ["vision.cnn", "--data-dir", str(subset), "--epochs", "1", "--no-download"],
        "table": ["tabular.classifier", "--data", str(table), "--target", "label", "--epochs", "3"],
    }


def run_once(args: list[str], threads: str, out: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(ZOO_NO_PLOTS="1", ZOO_DATA_DIR=str(out.parent / "zoo-data"))
    command = [sys.executable, "-m", "zoo", "train", *args, "--device", "cpu", "--out", str(out), "-q"]
    if threads != "auto":
        command += ["--threads", threads]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    config = json.loads((out / "config.json").read_text())
    return {"train": sum(r.get("seconds", 0.0) for r in rows), "wall": wall, "chose": config.get("threads")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", type=Path, default=Path("/work/shared/data/mnist"))
    parser.add_argument("--label", default="", help="idle or busy: how the machine was when this ran")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cnn-images", type=int, default=10_000)
    parser.add_argument("--workloads", nargs="+", default=["diabetes", "cnn", "table"])
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    counts = [str(n) for n in range(1, cpus + 1)] + ["auto"]
    load_start = os.getloadavg()[0]
    results: dict[str, Any] = {"label": args.label, "cpus": cpus, "load_start": round(load_start, 2), "table": {}}
    with tempfile.TemporaryDirectory(prefix="zoo-threads-") as tmp:
        work = Path(tmp)
        jobs = workloads(work, args.mnist, args.cnn_images)
        for name in args.workloads:
            times: dict[str, list[dict[str, float]]] = {c: [] for c in counts}
            for r in range(args.repeat):
                for count in counts if r % 2 == 0 else counts[::-1]:
                    times[count].append(run_once(jobs[name], count, work / f"{name}-{count}-{r}"))
            medians = {c: statistics.median(t["train"] for t in v) for c, v in times.items()}
            best = min(medians.values())
            results["table"][name] = {
                c: {
                    "train_s": round(medians[c], 2),
                    "wall_s": round(statistics.median(t["wall"] for t in times[c]), 2),
                    "vs_best": round(medians[c] / best, 2),
                    "threads": times[c][0]["chose"],
                }
                for c in counts
            }
    results["load_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
