"""Tune a vision CPU recipe with ``zoo tune``, judged on held-out training images, then time it on the test set.

The study never sees the test set: its data folder holds N of MNIST's training images
1-55,000 (a seeded shuffle, as ``small_data.py`` draws them) as the training files and
training images 55,001-60,000 in the place of the test files, so every trial is
evaluated on those. The searched keys are the CPU recipe's epochs, lr, batch size and
weight decay. Then, with ``--measure``, the default recipe and the chosen one each train
once on the real data (the 10,000 test images as validation, one process after the
other), and their time to the target accuracy is taken as ``time_to_accuracy.py`` takes
it: the sum of epoch seconds up to the first epoch whose test accuracy reaches it.

    python benchmarks/tune_vision.py --data-dir /work/shared/data/mnist --model vision.cnn --trials 30 --workers 2
    python benchmarks/tune_vision.py --data-dir D --train-images 4000 --trials 4 --epochs 1..2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_data import POOL, write_subsets

TARGETS = {"vision.cnn": 0.99, "vision.fc": 0.98}


def child_env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(OMP_NUM_THREADS=str(threads), ZOO_NO_PLOTS="1")
    return env


def study(args: argparse.Namespace, data: Path, out: Path) -> tuple[list[str], dict[str, Any]]:
    """The ``zoo tune`` command and its JSON summary."""
    command = ["zoo", "tune", args.model, "--device", "cpu", "--data-dir", str(data), "--no-download"]
    command += ["--trials", str(args.trials), "--workers", str(args.workers), "--sampler-seed", "0"]
    for key, spec in (
        ("epochs", args.epochs),
        ("lr", args.lr),
        ("batch_size", args.batch_size),
        ("weight_decay", args.weight_decay),
    ):
        command += ["--space", f"{key}={spec}"]
    command += ["--out", str(out), "--json"]
    proc = subprocess.run([sys.executable, "-m", "zoo", *command[1:]], capture_output=True, text=True, env=child_env(1))
    if proc.returncode != 0:
        raise SystemExit(f"error: zoo tune failed: {proc.stderr.strip().splitlines()[-1:]}")
    return command, json.loads(proc.stdout)


def time_to_target(args: argparse.Namespace, out: Path, params: dict[str, Any]) -> dict[str, Any]:
    """One ``zoo train`` on the real data with ``params``: seconds to the target test accuracy."""
    command = [sys.executable, "-m", "zoo", "train", args.model, "--device", "cpu", "--no-download", "--quiet"]
    command += ["--data-dir", str(args.data_dir), "--out", str(out), "--threads", str(args.threads)]
    for key, value in params.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=child_env(args.threads))
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {"status": "failed", "reason": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    target, seconds, reached = TARGETS[args.model], 0.0, None
    for record in history:
        seconds += record["seconds"]
        if reached is None and record["val_accuracy"] >= target:
            reached = round(seconds, 2)
    return {
        "status": "ok",
        "params": params,
        "epochs": len(history),
        "test_accuracy": history[-1]["val_accuracy"],
        "seconds_to_target": reached,
        "train_seconds": round(seconds, 2),
        "wall_seconds": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding MNIST/raw")
    parser.add_argument("--model", default="vision.cnn", choices=sorted(TARGETS))
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1), help="torch threads of --measure")
    parser.add_argument("--train-images", type=int, default=POOL, help=f"training images of the study (<= {POOL})")
    parser.add_argument("--epochs", default="1..4")
    parser.add_argument("--lr", default="0.0005..0.01:log")
    parser.add_argument("--batch-size", default="64,128,256,512")
    parser.add_argument("--weight-decay", default="0.00001..0.1:log")
    parser.add_argument("--measure", action="store_true", help="time the default and the chosen recipe on the test set")
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
        best = summary.get("best")
        if args.measure and best is not None:
            result["before"] = time_to_target(args, Path(tmp) / "before", {})
            result["after"] = time_to_target(args, Path(tmp) / "after", best["params"])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
