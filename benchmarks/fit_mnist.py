"""``zoo.fit`` on MNIST tensors against ``zoo train vision.cnn``, the same architecture and recipe.

Each run is a fresh Python process, the two kinds alternating, so neither inherits the
other's warm caches. ``fit`` reads the MNIST files into normalized float tensors itself
(as a user with tensors at hand would have them), builds the CNN with
``zoo.create("vision.cnn")`` after ``torch.manual_seed(seed)`` (as the trainer does) and
passes the recipe's hyperparameters as keywords; ``train`` is ``zoo.train("vision.cnn")``.
Both evaluate on the 10,000 test images each epoch. Printed: per run the final test
accuracy, the training time (the sum of the epochs' ``seconds``: train and evaluate)
and the wall time of the call; then the medians, their ratio and the ratio within each
pair. ``--together`` starts the two runs of a pair at the same moment, so that on a
machine busy with other work both meet the same load (each gets ``--threads`` threads).

    python benchmarks/fit_mnist.py --data-dir /work/shared/data/mnist --repeat 3
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
from typing import Any


def child(kind: str, data_dir: str, seed: int, threads: int, device: str, out: str) -> dict[str, Any]:
    import torch

    import zoo

    torch.set_num_threads(threads)
    recipe = zoo.get_spec("vision.cnn").recipe(device="cpu" if device == "cpu" else "accelerator").resolved()
    started = time.perf_counter()
    if kind == "train":
        run = zoo.train("vision.cnn", data_dir=data_dir, seed=seed, device=device, out=out, quiet=True)
        read = 0.0
    else:
        from zoo.contracts.data import DataRequest
        from zoo_vision.mnist import find_files, normalize, read_split

        files = find_files(DataRequest({}, Path(data_dir), seed, download=False))
        x, y = read_split(files, train=True)
        tx, ty = read_split(files, train=False)
        x, tx = normalize(x), normalize(tx)  # float32 (N, 1, 28, 28), as ToTensor + Normalize give them
        read = time.perf_counter() - started
        torch.manual_seed(seed)
        net = zoo.create("vision.cnn")
        run = zoo.fit(
            net, (x, y), (tx, ty), task="multiclass", classes=[str(d) for d in range(10)],
            seed=seed, device=device, out=out, quiet=True, **recipe,
        )  # fmt: skip
    wall = time.perf_counter() - started
    return {
        "kind": kind,
        "test_accuracy": run.history[-1]["val_accuracy"],
        "epochs": len(run.history),
        "train_seconds": round(sum(r["seconds"] for r in run.history), 2),
        "wall_seconds": round(wall, 2),
        "read_seconds": round(read, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--together", action="store_true", help="run each fit/train pair at the same time")
    parser.add_argument("--child", choices=("fit", "train"))
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data_dir, args.seed, args.threads, args.device, args.out)))
        return
    env = {**os.environ, "ZOO_NO_PLOTS": "1", "ZOO_OFFLINE": "1"}
    runs: list[dict[str, Any]] = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as work:
        for i in range(args.repeat):
            kinds = ("train", "fit") if i % 2 == 0 else ("fit", "train")
            commands = []
            for kind in kinds:
                command = [sys.executable, __file__, "--child", kind, "--data-dir", args.data_dir]
                command += ["--seed", str(args.seed), "--threads", str(args.threads), "--device", args.device]
                commands.append([*command, "--out", str(Path(work) / f"{kind}-{i}")])
            if args.together:  # both at once: a busy machine slows both alike
                started = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True, env=env) for c in commands]
                outputs = [p.communicate()[0] for p in started]
            else:
                outputs = [
                    subprocess.run(c, stdout=subprocess.PIPE, text=True, env=env, check=True).stdout for c in commands
                ]
            for output in outputs:
                runs.append(json.loads(output.strip().splitlines()[-1]))
                print(json.dumps(runs[-1]), file=sys.stderr)
    summary: dict[str, Any] = {
        "together": args.together,
        "load_average_at_start": load,
        "load_average_at_end": os.getloadavg()[0],
        "runs": runs,
    }
    for kind in ("train", "fit"):
        mine = [r for r in runs if r["kind"] == kind]
        summary[kind] = {
            "test_accuracy": sorted({r["test_accuracy"] for r in mine}),
            "median_train_seconds": statistics.median(r["train_seconds"] for r in mine),
            "median_wall_seconds": statistics.median(r["wall_seconds"] for r in mine),
        }
    summary["fit_over_train_seconds"] = round(
        summary["fit"]["median_train_seconds"] / summary["train"]["median_train_seconds"], 3
    )
    pairs = list(zip(runs[0::2], runs[1::2], strict=True))
    summary["fit_over_train_per_pair"] = [
        round(
            next(r for r in p if r["kind"] == "fit")["train_seconds"]
            / next(r for r in p if r["kind"] == "train")["train_seconds"],
            3,
        )
        for p in pairs
    ]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
