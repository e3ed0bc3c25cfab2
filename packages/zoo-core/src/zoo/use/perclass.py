"""Per-class precision, recall and F1 for ``zoo eval``, keyed by the class names the checkpoint knows.

The training metrics list per-class numbers by index; someone reading ``zoo eval --json``
wants ``{"cat": {...}, "dog": {...}}``. A confusion matrix is summed over the evaluated
batches (predicted class: the likeliest score, or probability 0.5 and up for a binary
model) and read by the same function the epoch metrics use.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.contracts.classes import class_names, confusion_metrics

#: The most classes a per-class report is kept for (a bigger matrix is not worth its memory).
MAX_CLASSES = 10_000


class ClassTally:
    """A confusion matrix summed over evaluation batches, with the names of its classes."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        count = len(names)
        self.confusion = torch.zeros(count * count, dtype=torch.int64)

    @classmethod
    def for_model(cls, task: Any, data_meta: dict[str, Any], num_classes: int | None) -> ClassTally | None:
        """A tally for a classifier (names from ``data_meta.classes``, else ``0``, ``1``...); None otherwise."""
        if not getattr(task, "classifies", False) or getattr(task, "output_rank", 2) != 2:
            return None
        names = class_names(data_meta) if isinstance(data_meta, dict) else None
        count = len(names) if names else (2 if task.name == "binary" else num_classes)
        if not count or count > MAX_CLASSES:
            return None
        return cls(names or [str(i) for i in range(count)])

    def add(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Count one batch: each row's true class against its predicted class."""
        count = len(self.names)
        scores = outputs.detach().float().reshape(len(outputs), -1)
        pred = scores.argmax(dim=-1) if scores.shape[1] > 1 else (scores[:, 0] >= 0.5).long()
        truth = targets.detach().reshape(-1).long()
        keep = (truth >= 0) & (truth < count) & (pred < count)
        flat = (truth[keep] * count + pred[keep]).cpu()
        self.confusion += torch.bincount(flat, minlength=count * count)

    def report(self) -> dict[str, dict[str, Any]]:
        """``{name: {precision, recall, f1, support}}``; a class absent from the data has no recall or F1."""
        count = len(self.names)
        matrix = self.confusion.reshape(count, count)
        read = confusion_metrics(matrix)
        support = matrix.sum(dim=1).tolist()
        return {
            name: {
                "precision": read["precision"][i],
                "recall": read["recall"][i],
                "f1": read["f1"][i],
                "support": int(support[i]),
            }
            for i, name in enumerate(self.names)
        }


def per_class_lines(report: dict[str, dict[str, Any]]) -> list[str]:
    """The report as aligned lines for a terminal, one class a line (``--json`` prints it whole)."""
    width = max((len(name) for name in report), default=0)
    lines = []
    for name, row in report.items():
        cells = [
            f"{key} {'-' if row[key] is None else format(row[key], '.4f')}" for key in ("precision", "recall", "f1")
        ]
        lines.append(f"  {name:<{width}}  {'  '.join(cells)}  support {row['support']}")
    return lines
