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
from typing import TYPE_CHECKING, Any, Protocol, final

import torch
from torch import nn

from zoo.contracts.numbers import FLOAT32_MAX, median_row, number_row, parse_numbers, standardization
from zoo.contracts.pipeline import PredictInput, predict_inputs
from zoo.contracts.spec import resolve
from zoo.contracts.tasks import Task, task_for
from zoo.errors import UsageError

if TYPE_CHECKING:
    from zoo.contracts.data import DataBundle
    from zoo.contracts.spec import ModelSpec

__all__ = [
    "FLOAT32_MAX",
    "FitContext",
    "ModelAdapter",
    "PredictInput",
    "Strategy",
    "adapter_for",
    "autograd_epoch",
    "median_row",
    "number_row",
    "parse_numbers",
    "standardization",
]


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
        #: The task's name, as the spec gives it.
        self.task = spec.task
        #: What the task means (``zoo.contracts.tasks``): loss, metrics, how outputs read.
        self.task_type: Task = task_for(spec.task)

    # -- training -----------------------------------------------------------
    def strategies(self) -> dict[str, Strategy]:
        """Fitting methods by name; ``--method`` picks one."""
        return {"autograd": autograd_epoch}

    def check(self, hparams: dict[str, Any], config: dict[str, Any]) -> None:
        """Refuse settings this model cannot use, before any file is written (raise UsageError)."""

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The task's loss (``zoo.contracts.tasks``); override for a loss of the model's own."""
        return self.task_type.loss(outputs, targets)

    # -- metrics ------------------------------------------------------------
    @property
    def main_metric(self) -> tuple[str, str]:
        """The metric that picks ``best.safetensors``, and ``min`` or ``max``."""
        return self.task_type.main_metric

    def batch_stats(
        self, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int | None
    ) -> dict[str, torch.Tensor]:
        """Sums for one batch, kept on the device; the trainer adds them up."""
        return self.task_type.batch_stats(outputs, targets, num_classes)

    def finalize(self, stats: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Turn summed batch statistics into the metrics that are logged."""
        return self.task_type.finalize(stats)

    # -- reporting and prediction --------------------------------------------
    def example_inputs(self) -> list[str]:
        """Inputs ``zoo predict`` accepts for this model (``zoo check`` predicts them)."""
        return list(self.spec.examples)

    def epoch_report(self, model: nn.Module, bundle: DataBundle, device: torch.device) -> str | None:
        """An extra line to print after each epoch (the seq models print their guess)."""
        return None

    @final
    def predict(
        self,
        model: nn.Module,
        inputs: list[Any],
        meta: dict[str, Any],
        options: dict[str, Any],
        device: torch.device,
    ) -> list[dict[str, Any]]:
        """Inputs as ``zoo predict`` takes them -> one result dict per input, through core's one path.

        Each dict has ``input`` and ``output`` (what is printed) and may carry more for
        ``--json``. Not overridden: a plugin shapes prediction through :meth:`expand`,
        :meth:`transforms`, :meth:`predict_module` and :meth:`decode`
        (``zoo.contracts.pipeline`` runs them), so a tensor prepared by ``transforms()``
        predicts exactly what the text does.
        """
        return predict_inputs(self, model, inputs, meta, options, device)

    def expand(self, inputs: list[Any], meta: dict[str, Any], options: dict[str, Any]) -> list[PredictInput]:
        """The inputs one call predicts, each named: the input-expansion hook.

        The default takes each input as it is, named by its text (or its position). A plugin
        overrides it where one input stands for several (a folder of pictures) or an option
        adds inputs (``--csv FILE``), and to check inputs as a whole, naming where each came from.
        """
        return [
            PredictInput(str(item) if isinstance(item, (str, Path)) else f"input {i + 1}", item)
            for i, item in enumerate(inputs)
        ]

    def predict_module(self, model: nn.Module, meta: dict[str, Any], options: dict[str, Any]) -> nn.Module:
        """What the path runs on each batch: the model itself, unless the options ask for more passes.

        A character model's ``--generate N`` wraps the model in a sampling loop whose output
        :meth:`decode` reads; the path still runs it in eval mode without gradients.
        """
        return model

    def extra_steps(self, inputs: int, options: dict[str, Any]) -> int:
        """Model steps predicting ``inputs`` inputs takes beyond reading them (characters to generate).

        ``zoo serve`` charges them, with the characters read, against its budget per request.
        """
        return 0

    def transforms(self, meta: dict[str, Any]) -> Callable[[Any], torch.Tensor]:
        """One raw input as ``predict`` takes it -> that sample's model input, no batch dimension.

        The default reads a row of comma-separated numbers (text, or a list of numbers),
        checks it against the feature count and applies the training split's
        standardization from ``meta``. Tasks whose inputs are not numbers have no default.
        """
        if not self.task_type.numeric_inputs:
            raise UsageError(
                f"{self.spec.full_name} ({self.task} task) has no default preprocessing of its inputs",
                hint="its plugin's adapter should define transforms(meta)",
            )
        count = self.feature_count(meta)
        stats = standardization(meta, count) if count is not None else None
        mean, std = (torch.tensor(stats[0]), torch.tensor(stats[1])) if stats else (None, None)

        def transform(raw: Any) -> torch.Tensor:
            values = parse_numbers(raw) if isinstance(raw, str) else number_row(raw)
            if count is not None and len(values) != count:
                raise UsageError(
                    f"input {raw!r} has {len(values)} value(s) but the model takes {count}",
                    hint=f"give {count} comma-separated numbers per input",
                )
            x = torch.tensor(values, dtype=torch.float32)
            return (x - mean) / std if mean is not None and std is not None else x

        return transform

    def read_upload(self, data: bytes, name: str) -> Any:
        """One uploaded picture's bytes as ``predict`` takes them (say, a decoded PIL image).

        ``zoo serve`` calls it in its decode pool, off the model's worker thread, so a plugin
        that overrides it keeps slow or hostile pictures from holding the model's queue;
        ``name`` is what errors call the upload. Not overridden: ``predict`` gets a file path.
        """
        raise NotImplementedError

    def decode(self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        """A batch of model outputs -> one result dict per row, as ``predict`` returns them without ``input``."""
        return self.task_type.decode(outputs, meta, options)

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
        form = {"kind": "numbers", "count": count, "names": names or [f"x{i + 1}" for i in range(count)]}
        return {**form, **self.example_row(meta, count)}

    def example_row(self, meta: dict[str, Any], count: int) -> dict[str, Any]:
        """A real row a form can start from: ``data_meta.example`` (the training medians), else the spec's example.

        As ``{"example": [...], "example_from": "..."}``, or ``{}`` when neither has ``count`` numbers.
        """
        stored = meta.get("example")
        if isinstance(stored, list) and len(stored) == count:
            try:
                return {"example": number_row(stored), "example_from": "the training medians"}
            except UsageError:
                pass  # a damaged field: the spec's example instead
        for text in self.spec.examples[:1]:
            try:
                values = parse_numbers(text)
            except UsageError:
                continue
            if len(values) == count:
                return {"example": values, "example_from": f"{self.spec.full_name}'s example"}
        return {}

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
            f"{spec.full_name}: adapter {spec.adapter!r} is not a subclass of zoo.contracts.adapter.ModelAdapter",
            hint=f"report this to the authors of {spec.distribution or 'its plugin'}",
        )
    return cls(spec)
