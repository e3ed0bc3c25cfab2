"""Imbalanced classes: inverse-frequency loss weights and balanced sampling, from the training rows."""

from __future__ import annotations

from typing import Any

import torch

from zoo.plugin import DataRequest, UsageError
from zoo_tabular.plugin import ANY_CSV_OPTIONS

CLASS_WEIGHTS = ("none", "auto")


def option(request: DataRequest, key: str) -> Any:
    value = request.options.get(key, ANY_CSV_OPTIONS[key])
    return ANY_CSV_OPTIONS[key] if value is None else value


def imbalance(
    request: DataRequest, y: torch.Tensor, train_idx: torch.Tensor, classes: int
) -> tuple[list[float] | None, torch.Tensor, str]:
    """``--class-weight auto`` (inverse frequency) and ``--balanced-sampling`` (minority rows repeated)."""
    how = str(option(request, "class_weight"))
    if how not in CLASS_WEIGHTS:
        raise UsageError(f"unknown --class-weight {how!r}", hint="choose auto (inverse frequency) or none")
    counts = torch.bincount(y[train_idx], minlength=classes).double()
    weights = None
    note = ""
    if how == "auto":
        present = counts.clamp(min=1)
        weights = [round(float(w), 6) for w in (counts.sum() / (classes * present))]
        note = "class weights " + ", ".join(f"{w:.3g}" for w in weights)
    if not bool(option(request, "balanced_sampling")):
        return weights, train_idx, note
    most = int(counts.max())
    picked = []
    generator = torch.Generator().manual_seed(int(request.seed))
    for c in range(classes):
        rows = train_idx[y[train_idx] == c]
        if len(rows):
            extra = rows[torch.randint(len(rows), (most - len(rows),), generator=generator)]
            picked += [rows, extra]
    fit = torch.cat(picked)
    return (
        weights,
        fit,
        ", ".join(n for n in (note, f"balanced: {len(fit)} training rows by repetition") if n),
    )
