"""What classification metrics are made of: per-class sums, the confusion matrix and the ROC AUC.

A multiclass task sums these over batches (and processes); the readings turn the sums
into the metrics each epoch logs. The class names and ``--top`` of a model's metadata
are read here too. Importing this module does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.errors import UsageError

if TYPE_CHECKING:
    import torch

#: Probability bins of the ROC AUC summed over batches (and processes): exact to about 1/1000.
AUC_BINS = 1000
#: The most classes whose confusion matrix goes into every epoch's record.
MAX_CONFUSION = 50


def confusion_metrics(confusion: torch.Tensor) -> dict[str, Any]:
    """Balanced accuracy, macro-F1 and per-class precision, recall and F1 from a confusion matrix.

    ``confusion[i, j]`` counts rows of class i predicted as j. A class absent from the split
    has no recall and is left out of the averages; one never predicted has precision 0.
    """
    m = confusion.double().cpu()
    hits = m.diag()
    truth, predicted = m.sum(dim=1), m.sum(dim=0)
    present = truth > 0
    recall = hits / truth.clamp(min=1)
    precision = hits / predicted.clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    rows = int(present.sum())
    logged = {"confusion": m.long().tolist()} if len(m) <= MAX_CONFUSION else {}
    return {
        **logged,
        "balanced_accuracy": float(recall[present].mean()) if rows else 0.0,
        "macro_f1": float(f1[present].mean()) if rows else 0.0,
        "precision": [round(float(v), 6) for v in precision],
        "recall": [round(float(v), 6) if t else None for v, t in zip(recall, truth)],
        "f1": [round(float(v), 6) if t else None for v, t in zip(f1, truth)],
    }


def binned_auc(positive: torch.Tensor, negative: torch.Tensor) -> float | None:
    """The ROC AUC from histograms of the positive class's probability (ties within a bin count half)."""
    pos, neg = positive.double().cpu(), negative.double().cpu()
    total = float(pos.sum()) * float(neg.sum())
    if not total:
        return None
    below = neg.cumsum(0) - neg  # negatives in lower bins
    return float((pos * (below + 0.5 * neg)).sum()) / total


def class_readings(stats: dict[str, torch.Tensor], values: float) -> dict[str, Any]:
    """The per-class, confusion, log-loss and AUC metrics of summed batch statistics (absent sums: none)."""
    out: dict[str, Any] = {}
    if "class_total" in stats:
        totals = stats["class_total"].tolist()
        hits = stats["class_correct"].tolist()
        out["per_class_accuracy"] = [h / t if t else None for h, t in zip(hits, totals)]
    # How many classes the model predicts at all: 1 means it answers one class for everything.
    if "class_predicted" in stats:
        out["predicted_classes"] = int((stats["class_predicted"] > 0).sum().item())
    elif "predicted_positive" in stats and values:
        positive = float(stats["predicted_positive"].item())
        out["predicted_classes"] = 1 if positive in (0.0, values) else 2
    if "confusion" in stats:
        out.update(confusion_metrics(stats["confusion"]))
    if "log_loss" in stats and values:
        out["log_loss"] = float(stats["log_loss"].item()) / values
    if "auc_pos" in stats:
        auc = binned_auc(stats["auc_pos"], stats["auc_neg"])
        if auc is not None:
            out["roc_auc"] = auc
    return out


def class_sums(
    outputs: torch.Tensor, targets: torch.Tensor, pred: torch.Tensor, num_classes: int
) -> dict[str, torch.Tensor]:
    """One batch's per-class counts, confusion matrix, summed log loss and (two classes) AUC bins."""
    import torch
    import torch.nn.functional as F

    ones = torch.ones_like(targets, dtype=torch.float32)
    totals = torch.zeros(num_classes, device=outputs.device).index_add_(0, targets, ones)
    hits = torch.zeros(num_classes, device=outputs.device).index_add_(0, targets, (pred == targets).float())
    flat_pred = pred.reshape(-1)
    predicted = torch.zeros(num_classes, device=outputs.device)
    predicted.index_add_(0, flat_pred, torch.ones_like(flat_pred, dtype=torch.float32))
    flat = targets.reshape(-1) * num_classes + flat_pred
    confusion = torch.zeros(num_classes * num_classes, device=outputs.device)
    confusion.index_add_(0, flat, torch.ones_like(flat, dtype=torch.float32))
    stats = {
        "class_total": totals,
        "class_correct": hits,
        "class_predicted": predicted,
        "confusion": confusion.reshape(num_classes, num_classes),
        "log_loss": F.cross_entropy(outputs.float(), targets, reduction="sum").detach(),
    }
    if num_classes == 2:
        p1 = torch.softmax(outputs.float(), dim=-1)[:, 1]
        bins = (p1 * AUC_BINS).long().clamp(0, AUC_BINS - 1)
        stats["auc_pos"] = torch.bincount(bins[targets == 1], minlength=AUC_BINS).float()
        stats["auc_neg"] = torch.bincount(bins[targets == 0], minlength=AUC_BINS).float()
    return stats


def class_names(meta: dict[str, Any]) -> list[str] | None:
    """``data_meta.classes`` as text, None when absent; a damaged field is a ValueError naming it."""
    value = meta.get("classes")
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(c, (str, int)) for c in value):
        raise ValueError(f"data_meta.classes must be a non-empty list of names, got {str(value)[:60]}")
    return [str(c) for c in value]


def top_count(value: Any, classes: int) -> int:
    """The ``top`` option (None: 1) checked to be a whole number from 1 to the number of classes."""
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"--top must be a whole number, got {value!r}")
    if not 1 <= value <= classes:
        raise UsageError(f"--top must be 1 to {classes}, got {value}")
    return value
