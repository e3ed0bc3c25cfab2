"""Start a model from weights trained for another head: the body is kept, the rest starts fresh.

Fine-tuning a published model to other classes changes the shapes of its last layer
(``Linear(320, 10)`` becomes ``Linear(320, 5)``). Every tensor whose name and shape
match is copied; tensors whose shape differs keep the new model's initialisation and
are named, so the user sees exactly what was re-initialised (timm's ``num_classes=``
does the same for its classifiers). A different architecture (names that do not
match) is an error, never a silent partial load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from zoo.errors import UsageError


@dataclass(frozen=True)
class Transfer:
    """What ``transfer`` copied and what it left at its initialisation, with both shapes."""

    copied: tuple[str, ...]
    fresh: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # name, saved shape, new shape

    def describe(self) -> str:
        """One line for the run's header: ``re-initialised fc2.weight [10, 320] -> [5, 320], ...``."""
        if not self.fresh:
            return "every tensor copied"
        parts = [f"{name} {list(old)} -> {list(new)}" for name, old, new in self.fresh]
        return f"copied {len(self.copied)} tensors; re-initialised " + ", ".join(parts)


def transfer(module: nn.Module, source: Mapping[str, torch.Tensor], what: str = "the weights") -> Transfer:
    """Copy into ``module`` every tensor of ``source`` with the same name and shape.

    Raises UsageError when the names differ (another architecture) or nothing fits.
    """
    target = module.state_dict()
    missing = sorted(set(target) - set(source))
    extra = sorted(set(source) - set(target))
    if missing or extra:
        shown = ", ".join([*(f"missing {n}" for n in missing[:3]), *(f"unexpected {n}" for n in extra[:3])])
        raise UsageError(
            f"{what} do not fit this model's layers ({shown})",
            hint="only settings that change a layer's size (such as the class count) may differ from the weights'",
        )
    copied: list[str] = []
    fresh: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    keep: dict[str, torch.Tensor] = {}
    for name, tensor in target.items():
        saved = source[name]
        if tuple(saved.shape) == tuple(tensor.shape):
            keep[name] = saved.to(dtype=tensor.dtype)
            copied.append(name)
        else:
            keep[name] = tensor
            fresh.append((name, tuple(saved.shape), tuple(tensor.shape)))
    if not copied:
        raise UsageError(f"no tensor of {what} has the shape this model needs", hint="train without --weights")
    module.load_state_dict(keep)
    return Transfer(tuple(copied), tuple(fresh))
