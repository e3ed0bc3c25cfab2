"""What a task means for training, evaluation and prediction, one class per task.

A model spec names its task (``binary``, ``multiclass``, ``regression``, ``sequence``);
the class of that name knows the loss, the metric that picks the best checkpoint, the
per-batch sums and the metrics made from them, how a row of outputs reads as a result,
and what ``zoo check`` expects a model of the task to return. ``ModelAdapter`` delegates
here, so adding a task is one class (registered in ``_TASK_CLASSES``) and its tests.

Importing this module does not import torch (``zoo list`` validates specs against
:data:`TASKS`); the methods that compute import it when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from zoo.errors import UsageError

if TYPE_CHECKING:
    import torch


class Task:
    """The behaviour shared by every task; a subclass fills in what its task means."""

    name: ClassVar[str]
    #: One line for ``zoo list --task`` and the docs.
    summary: ClassVar[str]
    #: The metric that picks ``best.safetensors``, and ``min`` or ``max``.
    main_metric: ClassVar[tuple[str, str]] = ("accuracy", "max")
    #: Dimensions of the model's output for a batch: (N, k) is 2, (N, T, V) is 3.
    output_rank: ClassVar[int] = 2
    #: Targets are class labels: a model answering one class for everything is worth a warning.
    classifies: ClassVar[bool] = False
    #: The default ``transforms`` applies: one input is a row of numbers.
    numeric_inputs: ClassVar[bool] = True
    #: The metrics ``--metric`` may choose as the main one (each logged for every epoch).
    metric_names: ClassVar[tuple[str, ...]] = ("loss", "accuracy")

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def batch_stats(
        self, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int | None
    ) -> dict[str, torch.Tensor]:
        """Sums for one batch, kept on the device; the trainer adds them up over batches and ranks."""
        raise NotImplementedError

    def finalize(self, stats: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Summed batch statistics as the metrics that are logged.

        One reading of every known sum, whichever task made it: an adapter that adds
        sums of its own (``correct`` for a regression model) gets their metric too.
        """
        out: dict[str, Any] = {}
        values = float(stats["values"].item()) if "values" in stats else 0.0
        if "sq_err" in stats and values:
            out["mse"] = float(stats["sq_err"].item()) / values
        if "correct" in stats and values:
            out["accuracy"] = float(stats["correct"].item()) / values
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

    def decode(self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        """A batch of model outputs as one result dict per row (``output`` and what goes with it)."""
        rows = outputs.detach().float().reshape(len(outputs), -1).cpu().tolist()
        return [{"output": row[0] if len(row) == 1 else row} for row in rows]

    def check_outputs(self, outputs: torch.Tensor, input_shape: tuple[int, ...], num_classes: int | None) -> str | None:
        """What is wrong with a model's outputs for a batch of ``input_shape`` (None: nothing), for ``zoo check``."""
        import torch

        if outputs.dim() != self.output_rank or outputs.shape[0] != input_shape[0]:
            return (
                f"a {self.name} model must map {tuple(input_shape)} to ({input_shape[0]}, ...) of rank "
                f"{self.output_rank}, got {tuple(outputs.shape)}"
            )
        problem = self._check_width(outputs, num_classes)
        if problem:
            return problem
        if not bool(torch.isfinite(outputs).all()):
            return "the model's outputs are not finite"
        return None

    def _check_width(self, outputs: torch.Tensor, num_classes: int | None) -> str | None:
        return None

    def _count(self, targets: torch.Tensor, device: torch.device) -> torch.Tensor:
        """How many target values a batch holds (a sequence's every position counts)."""
        import torch

        return torch.tensor(float(targets.numel()), device=device)


class Regression(Task):
    """Real-valued targets: mean squared error, lower is better."""

    name = "regression"
    summary = "real-valued outputs, mean squared error"
    main_metric = ("mse", "min")
    metric_names = ("mse", "loss")

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.mse_loss(outputs, targets.to(outputs.dtype))

    def batch_stats(
        self, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int | None
    ) -> dict[str, torch.Tensor]:
        import torch

        n = torch.tensor(float(targets.shape[0]), device=outputs.device)
        sq = (outputs.float() - targets.float()).pow(2).sum()
        return {"n": n, "sq_err": sq, "values": self._count(targets, outputs.device)}


class Binary(Task):
    """0/1 targets; the model outputs the probability of 1 (the notes' models end in a sigmoid)."""

    name = "binary"
    summary = "one probability per sample, binary cross-entropy"
    classifies = True

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        return F.binary_cross_entropy(outputs.float(), targets.to(torch.float32))

    def batch_stats(
        self, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int | None
    ) -> dict[str, torch.Tensor]:
        import torch

        n = torch.tensor(float(targets.shape[0]), device=outputs.device)
        pred = (outputs.float() >= 0.5).to(targets.dtype)
        correct = (pred.reshape(targets.shape) == targets).float().sum()
        return {
            "n": n,
            "correct": correct,
            "values": self._count(targets, outputs.device),
            "predicted_positive": pred.float().sum(),
        }

    def decode(self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        """The probability of label 1 and the label it gives (1 from 0.5 up)."""
        results = super().decode(outputs, meta, options)
        for result in results:
            value = result["output"]
            result["probability"] = value
            result["label"] = int(value >= 0.5)
        return results

    def _check_width(self, outputs: torch.Tensor, num_classes: int | None) -> str | None:
        if outputs.shape[-1] != 1:
            return f"a binary model outputs one probability per sample, got {tuple(outputs.shape)}"
        return None


class Multiclass(Task):
    """One class out of several: the model outputs a score (logit) per class, cross-entropy."""

    name = "multiclass"
    summary = "a score per class, softmax cross-entropy"
    classifies = True
    metric_names = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "roc_auc", "loss")

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(outputs.float(), targets)

    def batch_stats(
        self, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int | None
    ) -> dict[str, torch.Tensor]:
        import torch
        import torch.nn.functional as F

        n = torch.tensor(float(targets.shape[0]), device=outputs.device)
        pred = outputs.argmax(dim=-1)
        stats = {"n": n, "correct": (pred == targets).float().sum(), "values": n}
        if num_classes:
            hits = torch.zeros(num_classes, device=outputs.device)
            totals = torch.zeros(num_classes, device=outputs.device)
            totals.index_add_(0, targets, torch.ones_like(targets, dtype=torch.float32))
            hits.index_add_(0, targets, (pred == targets).float())
            predicted = torch.zeros(num_classes, device=outputs.device)
            predicted.index_add_(0, pred.reshape(-1), torch.ones_like(pred.reshape(-1), dtype=torch.float32))
            stats["class_total"] = totals
            stats["class_correct"] = hits
            stats["class_predicted"] = predicted
            flat = targets.reshape(-1) * num_classes + pred.reshape(-1)
            confusion = torch.zeros(num_classes * num_classes, device=outputs.device)
            confusion.index_add_(0, flat, torch.ones_like(flat, dtype=torch.float32))
            stats["confusion"] = confusion.reshape(num_classes, num_classes)
            stats["log_loss"] = F.cross_entropy(outputs.float(), targets, reduction="sum").detach()
            if num_classes == 2:
                p1 = torch.softmax(outputs.float(), dim=-1)[:, 1]
                bins = (p1 * AUC_BINS).long().clamp(0, AUC_BINS - 1)
                stats["auc_pos"] = torch.bincount(bins[targets == 1], minlength=AUC_BINS).float()
                stats["auc_neg"] = torch.bincount(bins[targets == 0], minlength=AUC_BINS).float()
        return stats

    def decode(self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        """The likeliest class by name, its probability and the ``top`` best (option ``top``, default 1).

        A model whose data names no classes (no ``classes`` in its metadata) shows its raw scores.
        """
        import torch

        classes = class_names(meta)
        if classes is None:
            return super().decode(outputs, meta, options)
        scores = outputs.detach().float().reshape(len(outputs), -1).cpu()
        if scores.shape[1] != len(classes):
            raise ValueError(
                f"data_meta.classes names {len(classes)} classes but the model has {scores.shape[1]} outputs"
            )
        top = top_count(options.get("top"), len(classes))
        best_p, best_i = torch.softmax(scores, dim=-1).topk(top, dim=-1)
        results = []
        for ps, idx in zip(best_p.tolist(), best_i.tolist(), strict=True):
            ranked = [{"class": classes[i], "index": i, "probability": p} for i, p in zip(idx, ps, strict=True)]
            name = ranked[0]["class"]
            display = f"p={ps[0]:.4f}"
            if top > 1:
                display += "  top: " + ", ".join(f"{r['class']} {r['probability']:.4f}" for r in ranked)
            results.append(
                {
                    "output": int(name) if name.isdigit() else name,
                    "probability": ps[0],
                    "top": ranked,
                    "display": display,
                }
            )
        return results

    def _check_width(self, outputs: torch.Tensor, num_classes: int | None) -> str | None:
        if num_classes and outputs.shape[-1] != num_classes:
            return f"the data has {num_classes} classes but the model outputs {outputs.shape[-1]} scores"
        return None


class Sequence(Task):
    """A class (a character) at every position: (N, T) in, (N, T, V) scores out."""

    name = "sequence"
    summary = "a score per vocabulary entry at every position, cross-entropy"
    output_rank = 3
    numeric_inputs = False

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]).float(), targets.reshape(-1))

    def batch_stats(
        self, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int | None
    ) -> dict[str, torch.Tensor]:
        import torch

        n = torch.tensor(float(targets.shape[0]), device=outputs.device)
        correct = (outputs.argmax(dim=-1) == targets).float().sum()
        return {"n": n, "correct": correct, "values": self._count(targets, outputs.device)}

    def decode(self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        raise UsageError(
            "a sequence model's outputs are read through its vocabulary, which core does not know",
            hint="its plugin's adapter should define decode(outputs, meta, options)",
        )


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


_TASK_CLASSES: tuple[type[Task], ...] = (Regression, Binary, Multiclass, Sequence)
_BY_NAME: dict[str, Task] = {cls.name: cls() for cls in _TASK_CLASSES}
#: Metric names that end in one of these are better when lower (bench, tune, runs, info).
LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse", "perplexity", "error")

#: Every task a model spec may name.
TASKS: tuple[str, ...] = tuple(_BY_NAME)


def task_for(name: str) -> Task:
    """The behaviour of the task ``name``; a UsageError listing the tasks for any other name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}", hint=f"tasks: {', '.join(TASKS)}") from None


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
