"""The one predict path: inputs -> ``transforms`` -> the model (eval mode, no gradients, batched) -> ``decode``.

``zoo predict``, ``LoadedModel.predict``, ``zoo serve`` (``/v1`` here, ``/v2`` through
:func:`forward`) and ``zoo check`` all run through these functions. A plugin supplies the
steps on its adapter (``expand`` for inputs that stand for several, such as a folder or
``--csv FILE``; ``transforms``; ``predict_module`` where the options ask for more than one
forward pass; ``decode``) and never the path, so batching, eval mode and the order of the
steps are the same for every model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo.contracts.evalmode import run_eval

if TYPE_CHECKING:
    from zoo.contracts.adapter import ModelAdapter

#: Most samples in one forward pass; longer lists are predicted in several, in order.
MAX_ROWS = 256


@dataclass
class PredictInput:
    """One input on the path: what its result calls it, what ``transforms`` reads, and facts about it.

    ``fields`` go into the result after the decoded output (a table row's ``values``, a
    picture's ``inverted``); the decoded fields win a clash, except that a list of objects
    as long as a decoded list of the same name is merged item by item (a character model's
    ``positions`` get the input character each one read).
    """

    name: str
    value: Any
    fields: dict[str, Any] = field(default_factory=dict)


def predict_inputs(
    adapter: ModelAdapter,
    model: nn.Module,
    items: Sequence[Any],
    meta: dict[str, Any],
    options: dict[str, Any],
    device: torch.device,
) -> list[dict[str, Any]]:
    """Raw inputs (text, paths, pictures) -> one result per input, each with its ``input`` name."""
    inputs = adapter.expand(list(items), meta, options)
    if not inputs:
        return []
    transform = adapter.transforms(meta)
    samples = [transform(item.value) for item in inputs]
    decoded = predict_samples(adapter, model, samples, meta, options, device)
    return [result_of(item, row) for item, row in zip(inputs, decoded, strict=True)]


def predict_samples(
    adapter: ModelAdapter,
    model: nn.Module,
    samples: torch.Tensor | Sequence[torch.Tensor],
    meta: dict[str, Any],
    options: dict[str, Any],
    device: torch.device,
) -> list[dict[str, Any]]:
    """Model inputs (a batch tensor, or samples as ``transforms`` gives them) -> decoded results, in order."""
    module = adapter.predict_module(model, meta, options)
    results: list[dict[str, Any]] = []
    for batch in batches(samples):
        results += adapter.decode(forward(module, batch, device), meta, options)
    return results


def forward(module: nn.Module, batch: torch.Tensor, device: torch.device | None = None) -> Any:
    """The model step of the path: ``module`` on ``batch`` (moved to ``device``) in eval mode, without gradients."""
    return run_eval(module, batch if device is None else batch.to(device))


def batches(samples: torch.Tensor | Sequence[torch.Tensor]) -> Iterator[torch.Tensor]:
    """Batches of at most ``MAX_ROWS``: a tensor's rows, or runs of consecutive samples of one shape, stacked.

    The order is kept, so a module that draws random numbers (text generation) draws them
    input by input whatever the shapes.
    """
    if isinstance(samples, torch.Tensor):
        yield from samples.split(MAX_ROWS)
        return
    start = 0
    while start < len(samples):
        shape = samples[start].shape
        end = start + 1
        while end < len(samples) and end - start < MAX_ROWS and samples[end].shape == shape:
            end += 1
        yield torch.stack(list(samples[start:end]))
        start = end


def result_of(item: PredictInput, decoded: dict[str, Any]) -> dict[str, Any]:
    """``{"input": name, **decoded, **fields}``; a per-item list in both is merged item by item, input side first."""
    result: dict[str, Any] = {"input": item.name, **decoded}
    for key, value in item.fields.items():
        given = result.get(key)
        if isinstance(given, list) and _items(given) and _items(value) and len(given) == len(value):
            result[key] = [{**a, **b} for a, b in zip(value, given, strict=True)]
        elif key not in result:
            result[key] = value
    return result


def _items(value: Any) -> bool:
    """A list of objects: one per item (a character model's positions)."""
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)
