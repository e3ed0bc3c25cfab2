"""K-fold cross-validation: one training run per fold, and a summary of the folds.

A dataset takes part by declaring the options ``fold`` and ``folds``: with
``folds = K > 1`` its loader cuts the rows into K folds (stratified and seeded, so
every run of one seed sees the same folds) and holds fold ``fold`` out as the
validation split. :func:`train_folds` runs the trainer once per fold, each into
``<run_dir>/fold-<i>``, and writes ``folds.json`` into ``<run_dir>``.

The summary's headline is the metric of each fold's *final* epoch: that is what a
fixed recipe delivers without looking at the held-out rows. The best epoch of each
fold is recorded too, but choosing an epoch on the rows that also score it flatters
the estimate.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.files.outpath import write_error
from zoo.files.runfolder import FOLDS, new_run_path

SUMMARY = FOLDS


def check_foldable(name: str) -> None:
    """A UsageError unless ``name``'s dataset declares the ``fold`` and ``folds`` options."""
    from zoo.plugins.registry import get_registry

    registry = get_registry()
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    if "fold" not in dataset.options or "folds" not in dataset.options:
        raise UsageError(
            f"{spec.full_name} cannot be cross-validated: its dataset {dataset.full_name} has no folds",
            hint="--folds works for datasets that declare the options fold and folds (see zoo info NAME)",
        )


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def train_folds(
    name: str,
    folds: int,
    *,
    out: str | Path | None = None,
    report: Any = None,
    **train_kwargs: Any,
) -> dict[str, Any]:
    """Train ``name`` once per fold and summarize the validation metric over the folds.

    ``train_kwargs`` go to :func:`zoo.training.trainer.train` for every fold (seed, device,
    recipe, hyperparameters...); the seed also fixes the folds. ``report`` is called
    with one line per finished fold. Returns the summary written to ``folds.json``:
    each fold's final and best value, their mean and (sample) standard deviation.
    """
    if folds < 2:
        raise UsageError(f"--folds must be at least 2, got {folds}")
    for key in ("fold", "folds", "resume"):
        if train_kwargs.get(key) is not None:
            hint = "resume one fold with --resume RUN_DIR/fold-<i>" if key == "resume" else "--folds runs every fold"
            raise UsageError(f"--{key} cannot be combined with --folds", hint=hint)
        train_kwargs.pop(key, None)
    check_foldable(name)
    run_dir = Path(out) if out is not None else new_run_path(name)
    rows: list[dict[str, Any]] = []
    metric = ""
    is_main = True
    for i in range(folds):
        row, metric, is_main = _one_fold(name, i, folds, run_dir, train_kwargs)
        rows.append(row)
        if report is not None and is_main:
            report(
                f"fold {i + 1}/{folds}: {metric} {row['value']:.4f} (best {row['best']:.4f} at epoch "
                f"{row['best_epoch']}): {run_dir / row['run_dir']}"
            )
    summary = _summary(name, folds, metric, rows, int(train_kwargs.get("seed") or 0))
    if is_main:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise write_error(run_dir / SUMMARY, exc) from None
    summary["run_dir"] = str(run_dir)
    return summary


def _one_fold(
    name: str, i: int, folds: int, run_dir: Path, train_kwargs: dict[str, Any]
) -> tuple[dict[str, Any], str, bool]:
    """Train fold ``i`` into ``run_dir/fold-<i>``; its summary row, the metric's name, and whether rank 0."""
    from zoo.training.trainer import train

    started = time.perf_counter()
    run = train(name, fold=i, folds=folds, out=run_dir / f"fold-{i}", **train_kwargs)
    if run.best is None or not run.history:
        raise UsageError(f"fold {i} of {name} produced no validation metric")
    metric = str(run.best["metric"])
    final = run.history[-1].get(metric)
    row: dict[str, Any] = {
        "fold": i,
        "value": float(final) if final is not None else math.nan,
        "best": float(run.best["value"]),
        "best_epoch": int(run.best["epoch"]),
        "epochs": len(run.history),
        "run_dir": f"fold-{i}",
        "seconds": round(time.perf_counter() - started, 3),
    }
    return row, metric, run.is_main


def _summary(name: str, folds: int, metric: str, rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """What ``folds.json`` holds: each fold's row, and the mean and spread of the final and best values."""
    mean, std = _mean_std([r["value"] for r in rows])
    best_mean, best_std = _mean_std([r["best"] for r in rows])
    return {
        "model": name,
        "folds": folds,
        "metric": metric,
        "mean": mean,
        "std": std,
        "best_mean": best_mean,
        "best_std": best_std,
        "per_fold": rows,
        "seed": seed,
        "note": "value: final epoch of each fold; best: its best epoch; std: sample standard deviation",
    }
