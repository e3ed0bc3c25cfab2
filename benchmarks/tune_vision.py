"""Tune a vision CPU recipe with ``zoo tune``, judged on held-out training images, then time it on the test set.

The study never sees the test set: its data folder holds N of MNIST's training images
1-55,000 (a seeded shuffle, as ``small_data.py`` draws them) as the training files and
training images 55,001-60,000 in the place of the test files, so every trial is
evaluated on those. The searched keys are the CPU recipe's epochs, lr, batch size and
weight decay (the recipe's declared space, shown by ``zoo info``; ``--space`` changes
a key). No trial is pruned by default: one-cycle schedules of different lengths are not
comparable epoch by epoch (a 2-epoch trial has annealed by its second epoch, a 6-epoch
one has not), so a median pruner would stop long schedules for being long.

With ``--measure``, the current recipe and the chosen one are then timed on the real
data by ``time_to_accuracy.py --no-notes`` (the 10,000 test images as validation, one
command after the other, for each of ``--seeds``).

    python benchmarks/tune_vision.py --data-dir MNIST_DIR --model vision.cnn --trials 30 --workers 2 --measure
    python benchmarks/tune_vision.py --data-dir D --train-images 4000 --trials 4 --space epochs=1..2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_data import POOL, write_subsets

HERE = Path(__file__).resolve().parent


def child_env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(OMP_NUM_THREADS=str(threads), ZOO_NO_PLOTS="1", ZOO_LOAD_PLUGINS="vision", ZOO_OFFLINE="1")
    return env


def study(args: argparse.Namespace, data: Path, out: Path) -> tuple[list[str], dict[str, Any]]:
    """The ``zoo tune`` command and its JSON summary."""
    command = ["zoo", "tune", args.model, "--recipe", "cpu", "--device", "cpu", "--data-dir", str(data)]
    command += ["--no-download", "--trials", str(args.trials), "--workers", str(args.workers)]
    command += ["--sampler-seed", "0", "--pruner", args.pruner]
    for spec in args.space:
        command += ["--space", spec]
    command += ["--out", str(out), "--json"]
    proc = subprocess.run([sys.executable, "-m", "zoo", *command[1:]], capture_output=True, text=True, env=child_env(1))
    if proc.returncode != 0:
        raise SystemExit(f"error: zoo tune failed: {proc.stderr.strip().splitlines()[-1:]}")
    return command, json.loads(proc.stdout)


def measure(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    """``time_to_accuracy.py --no-notes`` for the recipe with ``params`` set: its runs, one per seed."""
    model = args.model.removeprefix("vision.")
    command = [sys.executable, str(HERE / "time_to_accuracy.py"), "--models", model, "--no-notes"]
    command += ["--data-dir", str(args.data_dir), "--seeds", *map(str, args.seeds)]
    for key, value in params.items():
        command += ["--set", f"{key}={value}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"status": "failed", "reason": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    runs = json.loads(proc.stdout)["results"][args.model]["runs"]
    return {"settings": params, "runs": [{"seed": run["seed"], **run["zoo"]} for run in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding MNIST/raw")
    parser.add_argument("--model", default="vision.cnn", choices=["vision.cnn", "vision.fc"])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pruner", default="none", choices=["none", "median", "hyperband"])
    parser.add_argument("--space", action="append", default=[], metavar="KEY=SPEC", help="change a searched key")
    parser.add_argument("--train-images", type=int, default=POOL, help=f"training images of the study (<= {POOL})")
    parser.add_argument("--measure", action="store_true", help="time the current and the chosen recipe on the test set")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of --measure")
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1), help="torch threads of --measure")
    parser.add_argument("--out", type=Path, default=None, help="keep the study here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zoo-tune-vision-") as tmp:
        data = write_subsets(args.data_dir, Path(tmp), [args.train_images])[args.train_images]
        out = args.out or Path(tmp) / "study"
        command, summary = study(args, data, out)
    result: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "model": args.model,
        "study_command": " ".join(command),
        "judged_on": f"training images {POOL + 1}-60000 (never the test set)",
        "train_images": args.train_images,
        "summary": summary,
    }
    print(json.dumps(result, indent=2), flush=True)
    best = summary.get("best")
    if args.measure and best is not None:
        result["before"] = measure(args, {})
        result["after"] = measure(args, best["params"])
        print(json.dumps({"before": result["before"], "after": result["after"]}, indent=2))


if __name__ == "__main__":
    main()
