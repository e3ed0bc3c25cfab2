"""What a dataset loader returns to the trainer.

Two shapes of split exist. A ``TensorSplit`` holds the whole split as tensors; the
trainer moves it to the device once and slices batches out of a random permutation
(the fast path). A ``LoaderSplit`` wraps any iterable source such as a torch
``DataLoader``; the trainer still chooses the batch indices, so both paths see the
same batches for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class DataRequest:
    """What the user asked for: dataset options, where data lives, the seed."""

    options: dict[str, Any]
    data_dir: Path
    seed: int = 0
    download: bool = True
    #: The checkpoint's ``data_meta`` when its data is read again (``zoo eval``): a loader that
    #: derives encodings from the data (vocabularies, scales) reuses the checkpoint's instead.
    meta: dict[str, Any] | None = None


@dataclass
class TensorSplit:
    """A split held in memory as inputs ``x`` and targets ``y`` (first dim = samples)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"inputs have {self.x.shape[0]} samples but targets have {self.y.shape[0]}")

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class LoaderSplit:
    """A split served by ``make(batches)``: given index tensors, yield ``(x, y)`` batches."""

    make: Callable[[Sequence[torch.Tensor]], Iterable[Batch]]
    length: int

    def __len__(self) -> int:
        return self.length


Split = TensorSplit | LoaderSplit


@dataclass
class DataBundle:
    """The data of one run.

    ``val`` may be None for toy data sets too small to hold anything out; the trainer
    then evaluates on the training split and says so. ``meta`` (JSON-able) and
    ``config`` (builder arguments the data dictates, such as a vocabulary size) are
    saved into every checkpoint. ``transform`` runs on the device, batch by batch.
    """

    train: Split
    val: Split | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    num_classes: int | None = None
    description: str = ""
