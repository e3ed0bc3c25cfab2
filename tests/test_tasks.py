"""Task behaviour (zoo.contracts.tasks) and the adapter hooks built on it: transforms, decode, predict."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.contracts.adapter import ModelAdapter
from zoo.contracts.spec import TASKS, ModelSpec, Recipe
from zoo.contracts.tasks import Task, task_for
from zoo.errors import UsageError


def spec(task: str, **fields: object) -> ModelSpec:
    return ModelSpec("m", "a model", task, "x:y", "d", (Recipe("default", "r"),), **fields)  # type: ignore[arg-type]


def test_every_task_name_has_one_class_and_specs_are_checked_against_them() -> None:
    assert set(TASKS) == {"regression", "binary", "multiclass", "sequence"}
    for name in TASKS:
        task = task_for(name)
        assert isinstance(task, Task) and task.name == name and task.summary
        assert task.main_metric[1] in ("min", "max")
    with pytest.raises(UsageError, match="unknown task 'ranking'") as caught:
        task_for("ranking")
    assert "multiclass" in str(caught.value.hint)
    with pytest.raises(ValueError, match="task 'ranking' is not one of regression, binary"):
        spec("ranking").validate()


def test_task_names_load_without_torch() -> None:
    code = (
        "import sys, zoo.contracts.spec, zoo.contracts.tasks; "
        "print('torch' in sys.modules, len(zoo.contracts.tasks.TASKS))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "4"]


def test_losses_and_main_metrics_are_the_notes_formulas() -> None:
    g = torch.Generator().manual_seed(0)
    probs, bits = torch.rand(6, 1, generator=g), torch.randint(0, 2, (6, 1), generator=g)
    assert torch.equal(task_for("binary").loss(probs, bits), F.binary_cross_entropy(probs, bits.float()))
    logits, labels = torch.randn(6, 4, generator=g), torch.randint(0, 4, (6,), generator=g)
    assert torch.equal(task_for("multiclass").loss(logits, labels), F.cross_entropy(logits, labels))
    seq, chars = torch.randn(2, 5, 4, generator=g), torch.randint(0, 4, (2, 5), generator=g)
    assert torch.equal(task_for("sequence").loss(seq, chars), F.cross_entropy(seq.reshape(-1, 4), chars.reshape(-1)))
    values, targets = torch.randn(6, 1, generator=g), torch.randn(6, 1, generator=g)
    assert torch.equal(task_for("regression").loss(values, targets), F.mse_loss(values, targets))
    assert [task_for(t).main_metric for t in TASKS] == [
        ("mse", "min"),
        ("accuracy", "max"),
        ("accuracy", "max"),
        ("accuracy", "max"),
    ]
    assert ModelAdapter(spec("regression")).main_metric == ("mse", "min")


def test_metrics_from_summed_batches() -> None:
    multi = ModelAdapter(spec("multiclass"))
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 4.0, 1.0], [3.0, 0.0, 1.0]])
    stats = multi.batch_stats(logits, torch.tensor([0, 1, 2]), 3)
    metrics = multi.finalize(stats)
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["per_class_accuracy"] == [1.0, 1.0, 0.0] and metrics["predicted_classes"] == 2
    regression = ModelAdapter(spec("regression"))
    out = regression.finalize(regression.batch_stats(torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [1.0]]), None))
    assert out == {"mse": pytest.approx(2.5)}
    seq = ModelAdapter(spec("sequence"))
    scores = F.one_hot(torch.tensor([[0, 1, 2]]), 3).float()
    assert seq.finalize(seq.batch_stats(scores, torch.tensor([[0, 1, 1]]), None)) == {"accuracy": pytest.approx(2 / 3)}


def test_decode_reads_rows_as_the_task_means_them() -> None:
    binary = task_for("binary").decode(torch.tensor([[0.2], [0.7]]), {}, {})
    assert binary == [
        {"output": pytest.approx(0.2), "probability": pytest.approx(0.2), "label": 0},
        {"output": pytest.approx(0.7), "probability": pytest.approx(0.7), "label": 1},
    ]
    logits = torch.tensor([[0.0, 3.0, 1.0]])
    # without class names a multiclass model shows its raw scores, as it always did
    assert task_for("multiclass").decode(logits, {}, {}) == [{"output": [0.0, 3.0, 1.0]}]
    named = task_for("multiclass").decode(logits, {"classes": ["cat", "dog", "7"]}, {"top": 2})[0]
    assert named["output"] == "dog" and [r["class"] for r in named["top"]] == ["dog", "7"]
    assert named["probability"] == pytest.approx(torch.softmax(logits, -1)[0, 1].item())
    assert named["display"].startswith("p=0.8") and "top: dog" in named["display"]
    digits = task_for("multiclass").decode(torch.tensor([[0.0, 0.0, 5.0]]), {"classes": ["0", "1", "2"]}, {})
    assert digits[0]["output"] == 2
    with pytest.raises(UsageError, match="--top must be 1 to 3, got 4"):
        task_for("multiclass").decode(logits, {"classes": ["a", "b", "c"]}, {"top": 4})
    with pytest.raises(ValueError, match="names 2 classes but the model has 3 outputs"):
        task_for("multiclass").decode(logits, {"classes": ["a", "b"]}, {})
    with pytest.raises(UsageError, match="vocabulary"):
        task_for("sequence").decode(torch.zeros(1, 2, 3), {}, {})


def test_default_predict_is_transforms_then_model_then_decode() -> None:
    adapter = ModelAdapter(spec("binary", input_shape="(N, 2)"))
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    meta = {"features": 2, "standardize": {"mean": [1.0, -1.0], "std": [2.0, 0.5]}}
    transform = adapter.transforms(meta)
    assert torch.equal(transform("3,0"), torch.tensor([1.0, 2.0]))  # standardized as in training
    assert torch.equal(transform([3, 0]), transform("3,0"))
    predicted = adapter.predict(model, ["3,0", "-1,-1"], meta, {}, torch.device("cpu"))
    with torch.no_grad():
        outputs = model(torch.stack([transform("3,0"), transform("-1,-1")]))
    assert predicted == [{"input": t, **r} for t, r in zip(["3,0", "-1,-1"], adapter.decode(outputs, meta, {}))]
    assert predicted[0]["label"] == int(predicted[0]["probability"] >= 0.5)
    with pytest.raises(UsageError, match="has 3 value\\(s\\) but the model takes 2"):
        transform("1,2,3")
    with pytest.raises(UsageError, match="not a plain decimal number"):
        transform("1,nan")
    with pytest.raises(UsageError, match="not a row of numbers"):
        transform([1.0, float("inf")])
    with pytest.raises(ValueError, match="data_meta.standardize.std must be a list of 2 positive"):
        adapter.transforms({"features": 2, "standardize": {"mean": [0, 0], "std": [1, 0]}})
    with pytest.raises(UsageError, match="has no default preprocessing"):
        ModelAdapter(spec("sequence")).transforms({})


def test_check_outputs_says_what_a_model_of_the_task_must_return() -> None:
    x_shape = (4, 2)
    assert task_for("multiclass").check_outputs(torch.zeros(4, 3), x_shape, 3) is None
    assert "rank 3, got (4, 3)" in str(task_for("sequence").check_outputs(torch.zeros(4, 3), x_shape, None))
    assert "has 5 classes but the model outputs 3" in str(
        task_for("multiclass").check_outputs(torch.zeros(4, 3), x_shape, 5)
    )
    assert "one probability per sample" in str(task_for("binary").check_outputs(torch.zeros(4, 2), x_shape, None))
    nan = torch.full((4, 1), float("nan"))
    assert task_for("regression").check_outputs(nan, x_shape, None) == "the model's outputs are not finite"
