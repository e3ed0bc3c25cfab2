"""Per-model behaviour the trainer asks for, with defaults chosen by the task.

A plugin only subclasses ``ModelAdapter`` where its model differs from the default
for its task: a loss summed over time steps, a predictor that reads images, a
fitting method that does not use autograd. Strategies are functions that train one
epoch through a ``FitContext``; the trainer owns everything around them (devices,
checkpoints, logging, distribution).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import UsageError
from zoo.spec import resolve

if TYPE_CHECKING:
    from zoo.data import DataBundle
    from zoo.spec import ModelSpec


class FitContext(Protocol):
    """What a fitting strategy may use during one epoch."""

    model: nn.Module
    device: torch.device
    hparams: dict[str, Any]
    epoch: int
    rank: int
    world_size: int

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's shuffled training batches for the epoch, on the device."""
        ...

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Forward, loss, backward and optimizer step; records and returns the loss."""
        ...

    def record(self, loss: torch.Tensor, n: int) -> None:
        """Count a batch loss (mean over ``n`` samples) toward the epoch's train loss."""
        ...

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The model's loss, as the adapter defines it."""
        ...

    def log(self, message: str) -> None:
        """Print a line on rank 0, in step with any progress display."""
        ...

    def artifact(self, name: str) -> Path | None:
        """A path in the run folder for an extra file; None on ranks other than 0."""
        ...


Strategy = Callable[[FitContext], None]


def autograd_epoch(ctx: FitContext) -> None:
    """The ordinary loop: mini-batches, autograd, the optimizer."""
    for x, y in ctx.batches():
        ctx.train_step(x, y)


class ModelAdapter:
    """Defaults for each task; override what your model does differently."""

    #: Strategies that do not use the optimizer (hand-written updates, search).
    optimizer_free: frozenset[str] = frozenset()

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.task = spec.task

    # -- training -----------------------------------------------------------
    def strategies(self) -> dict[str, Strategy]:
        """Fitting methods by name; ``--method`` picks one."""
        return {"autograd": autograd_epoch}

    def check(self, hparams: dict[str, Any], config: dict[str, Any]) -> None:
        """Refuse settings this model cannot use, before any file is written (raise UsageError)."""

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.task == "regression":
            return F.mse_loss(outputs, targets.to(outputs.dtype))
        if self.task == "binary":
            # Models in the notes end in a sigmoid, so they output probabilities.
            return F.binary_cross_entropy(outputs.float(), targets.to(torch.float32))
        if self.task == "sequence":
            return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]).float(), targets.reshape(-1))
        return F.cross_entropy(outputs.float(), targets)

    # -- metrics ------------------------------------------------------------
    @property
    def main_metric(self) -> tuple[str, str]:
        """The metric that picks ``best.safetensors``, and ``min`` or ``max``."""
        return ("mse", "min") if self.task == "regression" else ("accuracy", "max")

    def batch_stats(
        self, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int | None
    ) -> dict[str, torch.Tensor]:
        """Sums for one batch, kept on the device; the trainer adds them up."""
        n = torch.tensor(float(targets.shape[0]), device=outputs.device)
        if self.task == "regression":
            sq = (outputs.float() - targets.float()).pow(2).sum()
            return {"n": n, "sq_err": sq, "values": torch.tensor(float(targets.numel()), device=outputs.device)}
        if self.task == "binary":
            pred = (outputs.float() >= 0.5).to(targets.dtype)
            correct = (pred.reshape(targets.shape) == targets).float().sum()
            return {
                "n": n,
                "correct": correct,
                "values": torch.tensor(float(targets.numel()), device=outputs.device),
                "predicted_positive": pred.float().sum(),
            }
        if self.task == "sequence":
            pred = outputs.argmax(dim=-1)
            correct = (pred == targets).float().sum()
            return {"n": n, "correct": correct, "values": torch.tensor(float(targets.numel()), device=outputs.device)}
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
        return stats

    def finalize(self, stats: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Turn summed batch statistics into the metrics that are logged."""
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
        return out

    # -- reporting and prediction --------------------------------------------
    def example_inputs(self) -> list[str]:
        """Inputs ``zoo predict`` accepts for this model (``zoo check`` predicts them)."""
        return list(self.spec.examples)

    def epoch_report(self, model: nn.Module, bundle: DataBundle, device: torch.device) -> str | None:
        """An extra line to print after each epoch (the seq models print their guess)."""
        return None

    def predict(
        self,
        model: nn.Module,
        inputs: list[str],
        meta: dict[str, Any],
        options: dict[str, Any],
        device: torch.device,
    ) -> list[dict[str, Any]]:
        """Turn command-line inputs into predictions: one dict per input.

        Each dict has ``input`` and ``output`` (what is printed) and may carry more
        for ``--json``. The default reads comma-separated numbers.
        """
        rows = [parse_numbers(text) for text in inputs]
        x = torch.tensor(rows, dtype=torch.float32, device=device)
        with torch.no_grad():
            y = model(x)
        results = []
        for text, value in zip(inputs, y.float().cpu().tolist()):
            value = value[0] if isinstance(value, list) and len(value) == 1 else value
            result: dict[str, Any] = {"input": text, "output": value}
            if self.task == "binary":
                result["probability"] = value
                result["label"] = int(value >= 0.5)
            results.append(result)
        return results

    # -- export and serving ---------------------------------------------------
    # What ``zoo export`` traces with and ``zoo serve`` shows. The defaults fit
    # models that take one row of numbers; plugins with other inputs override them.
    def example_batch(self, meta: dict[str, Any], batch: int = 2, model: nn.Module | None = None) -> torch.Tensor:
        """Model inputs of ``batch`` rows to trace and check an exported model with."""
        count = self.feature_count(meta, model)
        if count is None:
            raise UsageError(
                f"{self.spec.full_name} does not say what its inputs look like, so it cannot be exported",
                hint="its plugin's adapter should define example_batch(meta, batch)",
            )
        return torch.randn(batch, count, generator=torch.Generator().manual_seed(0))

    def export_module(self, model: nn.Module, meta: dict[str, Any]) -> nn.Module:
        """The module to export: the model itself unless the plugin wraps it."""
        return model

    def input_form(self, meta: dict[str, Any]) -> dict[str, Any]:
        """What a web form needs to ask for one input: ``numbers``, ``text`` or ``image``."""
        count = self.feature_count(meta) or 1
        names = [str(n) for n in meta.get("feature_names", [])][:count]
        return {"kind": "numbers", "count": count, "names": names or [f"x{i + 1}" for i in range(count)]}

    def preprocessing(self, meta: dict[str, Any]) -> dict[str, Any]:
        """How raw inputs become the exported model's inputs, for consumers of an export."""
        stats = meta.get("standardize")
        return {"standardize": stats} if stats else {}

    def feature_count(self, meta: dict[str, Any], model: nn.Module | None = None) -> int | None:
        """Numbers per input row: from the data, the spec's ``(N, k)`` shape or the first Linear layer."""
        if meta.get("features"):
            return int(meta["features"])
        match = re.fullmatch(r"\(\s*[A-Za-z]\s*,\s*(\d+)\s*\)", self.spec.input_shape or "")
        if match:
            return int(match.group(1))
        for layer in model.modules() if model is not None else ():
            if isinstance(layer, nn.Linear):
                return int(layer.in_features)
        return None


def adapter_for(spec: ModelSpec) -> ModelAdapter:
    """The adapter a model declares, or the task's defaults; the one place that decides it."""
    if spec.adapter is None:
        return ModelAdapter(spec)
    cls = resolve(spec.adapter)
    if not (isinstance(cls, type) and issubclass(cls, ModelAdapter)):
        raise UsageError(
            f"{spec.full_name}: adapter {spec.adapter!r} is not a subclass of zoo.adapter.ModelAdapter",
            hint=f"report this to the authors of {spec.distribution or 'its plugin'}",
        )
    return cls(spec)


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: The largest magnitude a float32 holds; larger inputs would become inf inside the model.
FLOAT32_MAX = 3.4028234663852886e38


def parse_numbers(text: str) -> list[float]:
    """``"1.5"`` or ``"1,2,3"`` as floats: plain decimal numbers only, each finite in float32.

    An empty field (``1,,2``), ``nan``, ``inf``, ``1e999`` or ``4_0`` would give a wrong
    answer rather than an error, so each is refused with its position.
    """
    values = []
    parts = text.split(",")
    for position, raw in enumerate(parts, start=1):
        part = raw.strip()
        where = f"value {position} of {len(parts)}" if len(parts) > 1 else "the value"
        if not _NUMBER.fullmatch(part):
            shown = repr(part) if part else "empty"
            raise UsageError(
                f"input {text!r}: {where} ({shown}) is not a plain decimal number",
                hint="give numbers like 4, -0.5 or 1e-3, separated by commas",
            )
        value = float(part)
        if abs(value) > FLOAT32_MAX:
            raise UsageError(f"input {text!r}: {where} ({part}) is too large for float32")
        values.append(value)
    return values
