"""Validation accuracy and speed of the diabetes recipes on the real CSV; prints JSON.

    python packages/zoo-tabular/benchmarks/diabetes.py --data PATH/diabetes.csv [--seeds 0-9]

Each (recipe, seed) is a full ``zoo.train`` run. The seed picks both the model's
initialization and the held-out 20 %, and with 152 validation rows the split alone
moves accuracy by several points, so every seed is reported, next to a fully fitted
logistic regression on the same split as a yardstick for how hard that split is.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET = 0.77


def seeds_from(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def reference_accuracy(data: str, seed: int) -> float:
    """Logistic regression fitted to convergence (L-BFGS) on the same training split."""
    import torch

    from zoo.contracts.data import DataRequest, TensorSplit
    from zoo_tabular.datasets import load_diabetes

    bundle = load_diabetes(DataRequest({"data": data}, Path("."), seed))
    train, val = bundle.train, bundle.val
    assert isinstance(train, TensorSplit) and isinstance(val, TensorSplit)
    linear = torch.nn.Linear(8, 1)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=500)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(linear(train.x), train.y)
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float(((linear(val.x) >= 0).float() == val.y).float().mean())


def one_run(data: str, recipe: str, seed: int, folder: Path) -> dict[str, Any]:
    import zoo

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run = zoo.train(
            "tabular.diabetes",
            recipe=recipe,
            seed=seed,
            data=data,
            out=folder / f"{recipe}-{seed}",
            quiet=True,
            device="cpu",
        )
    wall = time.perf_counter() - started
    accuracy = [row["val_accuracy"] for row in run.history]
    seconds = [row["seconds"] for row in run.history]
    reached = next((i for i, a in enumerate(accuracy) if a >= TARGET), None)
    return {
        "recipe": recipe,
        "seed": seed,
        "epochs": len(accuracy),
        "final_val_accuracy": round(accuracy[-1], 4),
        "best_val_accuracy": round(max(accuracy), 4),
        "best_epoch": accuracy.index(max(accuracy)) + 1,
        "first_epoch_at_target": None if reached is None else reached + 1,
        "train_seconds_to_target": None if reached is None else round(sum(seconds[: reached + 1]), 3),
        "wall_seconds": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the diabetes CSV (8 features, 0/1 label)")
    parser.add_argument("--seeds", default="0-9", help="'0-9' or '0,3,7'")
    parser.add_argument("--recipes", default="default", help="comma list: default,seed,seed-minibatch")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    os.environ.setdefault("ZOO_LOAD_PLUGINS", "tabular")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes.split(","):
            for seed in seeds_from(args.seeds):
                result = one_run(args.data, recipe, seed, Path(tmp))
                result["logreg_val_accuracy"] = round(reference_accuracy(args.data, seed), 4)
                runs.append(result)
                print(json.dumps(result), file=sys.stderr)
    summary = {}
    for recipe in args.recipes.split(","):
        mine = [r for r in runs if r["recipe"] == recipe]
        summary[recipe] = {
            "mean_final_val_accuracy": round(statistics.mean(r["final_val_accuracy"] for r in mine), 4),
            "mean_best_val_accuracy": round(statistics.mean(r["best_val_accuracy"] for r in mine), 4),
            "seeds_reaching_target": [r["seed"] for r in mine if r["first_epoch_at_target"] is not None],
            "mean_wall_seconds": round(statistics.mean(r["wall_seconds"] for r in mine), 2),
        }
    print(
        json.dumps(
            {
                "benchmark": "tabular.diabetes",
                "data": args.data,
                "target_val_accuracy": TARGET,
                "machine": {
                    "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                },
                "summary": summary,
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
