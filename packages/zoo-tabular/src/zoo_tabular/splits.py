"""Which rows train and which validate: a seeded split or a cross-validation fold.

Both are deterministic for a seed and, when asked, stratified: each class is shuffled
on its own so training and validation rows keep the classes' proportions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from zoo.plugin import UsageError


@dataclass(frozen=True)
class RowSplit:
    """The rows that train and validate, and how they were chosen."""

    train: torch.Tensor
    val: torch.Tensor
    #: The validation fraction used (0 for folds and for data that is never split).
    fraction: float
    folds: int
    fold: int

    def meta(self, seed: int, stratified: bool) -> dict[str, Any]:
        """``data_meta["split"]``: what reproduces the split, and the held-out rows of a fold."""
        found: dict[str, Any] = {
            "train": len(self.train),
            "val": len(self.val),
            "val_fraction": self.fraction,
            "seed": seed,
            "stratified": stratified,
        }
        if self.folds > 1:
            found.update(fold=self.fold, folds=self.folds, val_rows=self.val.tolist())
        return found


def check_fraction(fraction: float) -> float:
    """``--val-fraction`` as given, once it is at least 0 and below 1."""
    if not 0.0 <= fraction < 1.0:
        raise UsageError(f"--val-fraction must be at least 0 and below 1, got {fraction}")
    return fraction


def split_indices(
    labels: torch.Tensor, fraction: float, seed: int, stratify: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic train/validation indices; per-class shuffles keep 0/1 proportions."""
    generator = torch.Generator().manual_seed(int(seed))
    groups = (
        [torch.nonzero(labels == v).flatten() for v in labels.unique()]
        if stratify
        else [torch.arange(len(labels))]
    )
    train, val = [], []
    for group in groups:
        shuffled = group[torch.randperm(len(group), generator=generator)]
        k = round(len(group) * fraction)
        val.append(shuffled[:k])
        train.append(shuffled[k:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def check_folds(folds: int, fold: int, rows: int, split: bool, where: str) -> None:
    """Usable cross-validation options, or a UsageError saying what to change."""
    if not split:
        raise UsageError(
            f"{where} has {rows} rows and is never split, so it cannot be cut into {folds} folds",
            hint="cross-validate on your own data with --data FILE",
        )
    if folds > rows:
        raise UsageError(f"cannot cut {rows} rows into {folds} folds", hint=f"use at most {rows} folds")
    if not 0 <= fold < folds:
        raise UsageError(f"--fold {fold} is out of range for {folds} folds", hint=f"use 0..{folds - 1}")


def fold_indices(
    labels: torch.Tensor, folds: int, fold: int, seed: int, stratify: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and validation rows of cross-validation fold ``fold`` of ``folds``.

    Each class (or, unstratified, all rows) is shuffled by a generator seeded with
    ``seed`` and dealt round-robin into the folds, class after class, so every fold
    holds each class in the same proportion and fold sizes differ by at most one. For
    one seed the folds are disjoint and together cover every row once.
    """
    generator = torch.Generator().manual_seed(int(seed))
    groups = (
        [torch.nonzero(labels == v).flatten() for v in labels.unique()]
        if stratify
        else [torch.arange(len(labels))]
    )
    order = torch.cat([group[torch.randperm(len(group), generator=generator)] for group in groups])
    assigned = torch.empty(len(labels), dtype=torch.long)
    assigned[order] = torch.arange(len(order)) % folds
    val = torch.nonzero(assigned == fold).flatten()
    train = torch.nonzero(assigned != fold).flatten()
    return train, val
