"""The hand-written fitting strategies, run on a stand-in FitContext."""

from __future__ import annotations

import csv
import importlib.util

import pytest
import torch
from torch import nn

from zoo.plugin import UsageError
from zoo_tabular import strategies
from zoo_tabular.adapters import LineAdapter
from zoo_tabular.models import build_line, build_mlp
from zoo_tabular.plugin import MODELS

X = torch.tensor([[1.0], [2.0], [3.0]])
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def test_hand_written_gradient_matches_autograd(fake_fit):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, generator=g), torch.randn(16, 1, generator=g)
    model = build_line(in_features=3, bias=True, init_weight=0.3, init_bias=-0.2)
    reference = build_line(in_features=3, bias=True, init_weight=0.3, init_bias=-0.2)
    nn.functional.mse_loss(reference(x), y).backward()
    assert reference.weight.grad is not None and reference.bias.grad is not None
    ctx = fake_fit(model, x, y, lr=0.1)
    strategies.gradient_descent(ctx)
    with torch.no_grad():
        assert torch.allclose(model.weight, reference.weight - 0.1 * reference.weight.grad, atol=1e-6)
        assert torch.allclose(model.bias, reference.bias - 0.1 * reference.bias.grad, atol=1e-6)
    # the recorded loss is the cost before the step, as the notes print it
    assert ctx.losses == [(pytest.approx(nn.functional.mse_loss(reference(x), y).item()), 16)]


@pytest.mark.parametrize(
    ("method", "steps_per_epoch"),
    [("gd", 1), ("sgd", 3), ("minibatch", 2)],
)
def test_methods_take_the_expected_number_of_steps_and_converge(fake_fit, method, steps_per_epoch):
    model = build_line()
    ctx = fake_fit(model, X, 2 * X, lr=0.01, batch_size=2)
    fit = LineAdapter(MODELS[0]).strategies()[method]
    for epoch in range(100):
        ctx.epoch = epoch
        fit(ctx)
    assert len(ctx.losses) == 100 * steps_per_epoch
    assert model.weight.item() == pytest.approx(2.0, abs=1e-2)
    assert ctx.losses[-1][0] < ctx.losses[0][0]


def test_grid_search_finds_w_2_and_writes_the_table(fake_fit, tmp_path):
    model = build_line()
    ctx = fake_fit(model, X, 2 * X, grid_min=0.0, grid_max=4.0, grid_step=0.1)
    strategies.grid_search(ctx)
    assert model.weight.item() == 2.0
    assert len([line for line in ctx.lines if line.startswith("w=")]) == 41
    assert "w=2.0  MSE=0" in ctx.lines
    assert "w=3.0  MSE=4.66667" in ctx.lines  # (1 + 4 + 9) / 3, as the notes print for w = 3
    with open(tmp_path / "grid.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["w", "mse"] and len(rows) == 42
    assert rows[21][0] == "2.0" and float(rows[21][1]) == 0.0
    assert ctx.losses == [(0.0, 3)]
    assert (tmp_path / "grid.png").exists() == HAS_MATPLOTLIB
    ctx.epoch, ctx.lines = 1, []  # later epochs only measure: the search cannot find anything new
    strategies.grid_search(ctx)
    assert ctx.lines == [] and model.weight.item() == 2.0 and ctx.losses[-1] == (0.0, 3)


def test_affine_grid_search_finds_w_2_b_1_and_draws_the_surface(fake_fit, tmp_path):
    model = build_line(bias=True)
    ctx = fake_fit(model, X, 2 * X + 1)
    strategies.grid_search(ctx)
    assert (model.weight.item(), model.bias.item()) == (2.0, 1.0)
    with open(tmp_path / "grid.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["w", "b", "mse"] and len(rows) == 1 + 41 * 41
    best = min(rows[1:], key=lambda r: float(r[2]))
    assert (best[0], best[1], float(best[2])) == ("2.0", "1.0", 0.0)
    assert (tmp_path / "surface.png").exists() == HAS_MATPLOTLIB


def test_grid_range_and_step_are_hyperparameters(fake_fit):
    model = build_line()
    ctx = fake_fit(model, X, 2.25 * X, grid_min=1.0, grid_max=3.0, grid_step=0.25)
    assert strategies.grid_values(ctx.hparams) == [1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0]
    strategies.grid_search(ctx)
    assert model.weight.item() == 2.25
    assert "w=2.25  MSE=0" in ctx.lines
    with pytest.raises(UsageError, match="grid_step > 0"):
        strategies.grid_values(fake_fit(model, X, X, grid_step=0.0).hparams)


def test_hand_written_methods_refuse_other_models(fake_fit):
    ctx = fake_fit(build_mlp(), torch.zeros(4, 8), torch.zeros(4, 1))
    with pytest.raises(UsageError, match="--method autograd"):
        strategies.gradient_descent(ctx)
