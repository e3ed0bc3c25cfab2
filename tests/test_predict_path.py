"""The one predict path: core runs inputs -> transforms -> the model (eval mode, no gradients, batched) -> decode.

In-process: plugins supply steps and never the path; the path keeps the order of inputs
across batches of different shapes, merges what the expansion hook says about each input,
and leaves a model in the mode it found it, even when the model raises.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from zoo.contracts.adapter import ModelAdapter, adapter_for
from zoo.contracts.evalmode import evaluating, run_eval
from zoo.contracts.pipeline import MAX_ROWS, PredictInput, batches, predict_inputs, result_of
from zoo.contracts.spec import ModelSpec
from zoo.plugins.registry import get_registry


class Lengths(nn.Module):
    """Outputs each row's length and sum, and records the batch sizes and modes it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((len(x), self.training, torch.is_grad_enabled()))
        return torch.stack([torch.full((len(x),), float(x.shape[1])), x.float().sum(dim=1)], dim=1)


class CountingAdapter(ModelAdapter):
    """Inputs are texts of digits; each result says how long its input was."""

    def expand(self, inputs: list[Any], meta: dict[str, Any], options: dict[str, Any]) -> list[PredictInput]:
        return [PredictInput(f"#{i}", text, {"chars": [{"input": c} for c in text]}) for i, text in enumerate(inputs)]

    def transforms(self, meta: dict[str, Any]) -> Any:
        return lambda text: torch.tensor([int(c) for c in text])

    def decode(self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"output": int(row[1]), "chars": [{"at": i} for i in range(int(row[0]))]} for row in outputs.tolist()]


def _adapter() -> CountingAdapter:
    return CountingAdapter(ModelSpec("counting", "test", "regression", "builtins:dict", "none.none", recipes=()))


def test_the_path_keeps_input_order_across_shapes_and_merges_fields() -> None:
    model = Lengths().train()
    texts = ["12", "345", "67", "89", "1"]
    results = predict_inputs(_adapter(), model, texts, {}, {}, torch.device("cpu"))
    assert [r["input"] for r in results] == ["#0", "#1", "#2", "#3", "#4"]
    assert [r["output"] for r in results] == [3, 12, 13, 17, 1]
    assert results[1]["chars"] == [{"input": "3", "at": 0}, {"input": "4", "at": 1}, {"input": "5", "at": 2}]
    # consecutive samples of one shape share a batch; every batch ran in eval mode without gradients
    assert model.seen == [(1, False, False), (1, False, False), (2, False, False), (1, False, False)]
    assert model.training  # the mode it was in before


def test_batches_are_bounded_and_a_tensor_is_split_by_rows() -> None:
    samples = [torch.zeros(2)] * (MAX_ROWS + 3)
    assert [len(b) for b in batches(samples)] == [MAX_ROWS, 3]
    assert [len(b) for b in batches(torch.zeros(MAX_ROWS * 2 + 1, 4))] == [MAX_ROWS, MAX_ROWS, 1]


def test_fields_that_are_not_per_item_lists_sit_beside_the_output() -> None:
    item = PredictInput("a", "a", {"values": [1.0, 2.0], "inverted": True})
    result = result_of(item, {"output": 3, "values": [5.0]})
    assert list(result.items()) == [("input", "a"), ("output", 3), ("values", [5.0]), ("inverted", True)]


def test_evaluating_restores_the_mode_even_when_the_model_raises() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert not self.training and not torch.is_grad_enabled()
            raise RuntimeError("no")

    model = Broken().train()
    with pytest.raises(RuntimeError, match="no"):
        run_eval(model, torch.zeros(1))
    assert model.training
    with evaluating(model.eval()):
        pass
    assert not model.training


def test_no_first_party_adapter_overrides_predict() -> None:
    registry = get_registry()
    first_party = [s for s in registry.models.values() if (s.distribution or "").startswith("zoo-")]
    assert first_party, "no first-party models are installed"
    for spec in first_party:
        adapter = adapter_for(spec)
        assert type(adapter).predict is ModelAdapter.predict, f"{spec.full_name} overrides ModelAdapter.predict"


def test_loaded_model_and_cli_path_agree_for_tensors_with_and_without_a_batch() -> None:
    import zoo

    line = zoo.load("tabular.linear")
    line.model.train()  # predict runs it in eval mode and puts this back
    row = line.transforms()("4")
    from_text = line.predict("4")[0]["output"]
    assert line.predict(row)[0]["output"] == pytest.approx(from_text)
    assert line.predict(row.unsqueeze(0))[0]["output"] == pytest.approx(from_text)
    assert line.predict(row.unsqueeze(0).numpy())[0]["output"] == pytest.approx(from_text)
    assert line.model.training
