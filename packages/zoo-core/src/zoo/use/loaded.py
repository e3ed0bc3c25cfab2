"""A trained model rebuilt from its checkpoint, with what the checkpoint says about it.

``predict`` takes what a person has at hand: paths and text (read exactly as
``zoo predict`` reads them), PIL images, arrays and tensors. ``transforms()`` is the
model's own preprocessing as one callable, so a plain PyTorch loop feeds the model
what zoo feeds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.contracts.spec import ModelSpec
from zoo.errors import UsageError
from zoo.plugins.meta import plugin_call

#: Most samples ``LoadedModel.predict`` takes in one call (a batch, not a data set).
MAX_BATCH = 100_000


@dataclass
class LoadedModel:
    """A rebuilt model with everything its checkpoint says about it."""

    model: nn.Module
    metadata: dict[str, Any]
    spec: ModelSpec
    path: Path

    def __repr__(self) -> str:
        epoch = self.metadata.get("epoch", "?")
        return f"LoadedModel({self.spec.full_name!r}, epoch {epoch}, from {str(self.path)!r})"

    @property
    def data_meta(self) -> dict[str, Any]:
        """What the checkpoint says about its data (labels, statistics, sizes)."""
        meta = self.metadata.get("data_meta")
        return dict(meta) if isinstance(meta, dict) else {}

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (the CPU for a model without any)."""
        for tensor in (*self.model.parameters(), *self.model.buffers()):
            return tensor.device
        return torch.device("cpu")

    def predict(self, inputs: Any, seed: int = 0, **options: Any) -> list[dict[str, Any]]:
        """Predictions as ``zoo predict`` makes them, one dict per input.

        A path or text, or a list of them (numbers count as text: ``[4, 5.5]`` is two
        inputs), goes through the plugin's own reader, as on the command line. A tensor or
        array is a batch of model inputs (the first dimension is the batch); a PIL image,
        or a list of images, arrays and tensors, is preprocessed sample by sample with
        ``transforms()`` and predicted as one batch. Options are the model's predict
        options (``top=3``), checked as ``zoo predict`` checks them. One sample without its
        batch dimension (what ``transforms()`` returns) is predicted as a batch of one.
        """
        from zoo.use.predict import run_predict

        if isinstance(inputs, (str, Path)):
            return run_predict(self, [str(inputs)], options, seed=seed)
        if isinstance(inputs, (list, tuple)) and inputs and all(_is_text(i) for i in inputs):
            return run_predict(self, [str(i) for i in inputs], options, seed=seed)
        return self.predict_batch(self._batch(inputs), seed=seed, **options)

    def predict_batch(self, x: torch.Tensor, seed: int = 0, **options: Any) -> list[dict[str, Any]]:
        """Predictions for a batch of model inputs: the one path from the model step on (no ``transforms``)."""
        from zoo.contracts.adapter import adapter_for
        from zoo.contracts.options import typed_options
        from zoo.contracts.pipeline import predict_samples

        chosen = typed_options(options, self.spec.predict_options)
        chosen["seed"] = seed
        adapter = adapter_for(self.spec)
        meta = self.data_meta
        expected = self.input_shape()
        if expected is not None and tuple(x.shape) == expected[1:]:
            x = x.unsqueeze(0)  # one sample, as transforms() returns it

        def run() -> list[dict[str, Any]]:
            try:
                return predict_samples(adapter, self.model, x, meta, chosen, self.device)
            except RuntimeError as exc:  # a tensor of another shape than the model takes
                wanted = f"(N, {', '.join(map(str, expected[1:]))})" if expected else "the model's input shape"
                why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise UsageError(
                    f"{self.spec.full_name} cannot take a tensor of shape {tuple(x.shape)}: {why}",
                    hint=f"give a batch shaped {wanted}, or one sample shaped as transforms() returns it",
                ) from None

        return plugin_call(self.path, self.spec, "decode", run)

    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of a batch of one model input (``(1, 1, 28, 28)``), from the adapter's example; None if unknown."""
        from zoo.contracts.adapter import adapter_for

        adapter = adapter_for(self.spec)
        try:
            with torch.device("meta"):  # only the shape: nothing is allocated
                example = adapter.example_batch(self.data_meta, 1, self.model)
        except Exception:  # a plugin without an example, or whose example needs real memory
            return None
        return tuple(example.shape) if isinstance(example, torch.Tensor) else None

    def transforms(self) -> Callable[[Any], torch.Tensor]:
        """One raw input (a path, a PIL image, an array, a line of numbers) -> one sample's model input.

        Exactly the preprocessing of ``predict``; the result has no batch dimension.
        """
        from zoo.contracts.adapter import adapter_for

        adapter = adapter_for(self.spec)
        meta = self.data_meta
        return plugin_call(self.path, self.spec, "transforms", lambda: adapter.transforms(meta))

    def _batch(self, inputs: Any) -> torch.Tensor:
        """A tensor (or array) as it is; anything else, item by item through ``transforms()``."""
        if isinstance(inputs, torch.Tensor):
            return inputs
        if _is_array(inputs):
            return torch.as_tensor(inputs)
        items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not items:
            raise UsageError("give at least one input", hint="a path, a PIL image, an array or a tensor")
        if len(items) > MAX_BATCH:
            raise UsageError(f"at most {MAX_BATCH} inputs per call, got {len(items)}", hint="predict in batches")
        prepare = self.transforms()
        samples = [item if isinstance(item, torch.Tensor) else prepare(item) for item in items]
        shapes = {tuple(s.shape) for s in samples}
        if len(shapes) > 1:
            raise UsageError(
                f"the inputs have different shapes after preprocessing: {', '.join(str(s) for s in sorted(shapes))}",
                hint="give tensors of one shape, or raw inputs that transforms() prepares",
            )
        return torch.stack(samples)


def _is_array(value: Any) -> bool:
    """A numpy array (or anything exposing the array interface), without importing numpy."""
    return hasattr(value, "__array_interface__") and hasattr(value, "shape") and not hasattr(value, "getpixel")


def _is_text(item: Any) -> bool:
    """What ``zoo predict`` could have been given: a path, text or a plain number."""
    return isinstance(item, (str, Path)) or (isinstance(item, (int, float)) and not isinstance(item, bool))
