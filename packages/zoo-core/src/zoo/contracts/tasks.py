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

from zoo.contracts.classes import class_names, class_readings, class_sums, top_count
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
        out.update(class_readings(stats, values))
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

        n = torch.tensor(float(targets.shape[0]), device=outputs.device)
        pred = outputs.argmax(dim=-1)
        stats = {"n": n, "correct": (pred == targets).float().sum(), "values": n}
        if num_classes:
            stats.update(class_sums(outputs, targets, pred, num_classes))
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


_TASK_CLASSES: tuple[type[Task], ...] = (Regression, Binary, Multiclass, Sequence)
_BY_NAME: dict[str, Task] = {cls.name: cls() for cls in _TASK_CLASSES}

#: Every task a model spec may name.
TASKS: tuple[str, ...] = tuple(_BY_NAME)


def task_for(name: str) -> Task:
    """The behaviour of the task ``name``; a UsageError listing the tasks for any other name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}", hint=f"tasks: {', '.join(TASKS)}") from None


#: Metric names that end in one of these are better when lower (bench, tune, runs, info).
LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse", "perplexity", "error")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is the better one, read from its name (``val_loss``, ``mse``)."""
    return metric.endswith(LOWER_IS_BETTER)


def metric_mode(metric: str, main: tuple[str, str] | None = None) -> str:
    """``min`` or ``max``: which way ``metric`` ranks runs, trials and bench targets.

    The model's main metric ``main`` (name, mode) keeps the mode its task declares.
    """
    if main is not None and metric == main[0]:
        return main[1]
    return "min" if lower_is_better(metric) else "max"


def is_better(value: float, than: float, mode: str) -> bool:
    """Whether ``value`` strictly beats ``than`` on a metric ranked ``mode`` (``min`` or ``max``)."""
    return value < than if mode == "min" else value > than
