"""Every shipped recipe through the real trainer (in-process, to keep the suite fast)."""

from __future__ import annotations

import itertools
import json
import sys

import pytest
import torch

import zoo

LINE_RECIPES = ["gd", "grid", "sgd", "minibatch", "autograd"]
#: Weight updates per epoch on the 3 points of the notes, by method and its recipe's batch size:
#: gd one full batch, sgd one per sample, minibatch batches of 2 (2 + 1), autograd batches of 1,
#: grid a single jump to the best point.
UPDATES = {"gd": 1, "grid": 1, "sgd": 3, "minibatch": 2, "autograd": 3}


def fit_trace(run) -> list[tuple[int, str, int]]:
    """The run's fit.csv: (epoch, method that ran, weight updates) per epoch."""
    lines = (run.run_dir / "fit.csv").read_text().splitlines()
    assert lines[0] == "epoch,method,updates"
    return [(int(e), m, int(u)) for e, m, u in (line.split(",") for line in lines[1:])]


def test_registered_without_importing_torch(tmp_path):
    import subprocess

    code = (
        "import sys\n"
        "import zoo_tabular.plugin as p\n"
        "models, datasets = [], []\n"
        "p.zoo_register_models(models.append)\n"
        "p.zoo_register_datasets(datasets.append)\n"
        "assert 'torch' not in sys.modules, 'registering imported torch'\n"
        "print(sorted(m.name for m in models), sorted(d.name for d in datasets))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = "['affine', 'classifier', 'diabetes', 'linear', 'logistic', 'regressor']"
    assert done.stdout.strip() == f"{names} {names}"


def test_the_registry_sees_six_models_and_their_methods(train_here):
    specs = {s.full_name: s for s in zoo.list_models("tabular.*")}
    assert sorted(specs) == [
        "tabular.affine",
        "tabular.classifier",
        "tabular.diabetes",
        "tabular.linear",
        "tabular.logistic",
        "tabular.regressor",
    ]
    assert specs["tabular.linear"].dataset == "tabular.linear"
    assert {r.name for r in specs["tabular.diabetes"].recipes} == {"default", "seed", "seed-minibatch"}
    linear = specs["tabular.linear"]
    assert linear.adapter is not None
    adapter = zoo.contracts.spec.resolve(linear.adapter)(linear)
    assert set(adapter.strategies()) == set(LINE_RECIPES)
    assert adapter.optimizer_free == {"grid", "gd", "sgd", "minibatch"}


@pytest.mark.parametrize("recipe", LINE_RECIPES)
def test_every_method_fits_w_2(train_here, recipe):
    run = train_here("tabular.linear", recipe=recipe)
    assert run.model.weight.item() == pytest.approx(2.0, abs=1e-2)
    assert run.model.bias is None
    history = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == run.spec.recipe(recipe).resolved()["epochs"]
    assert history[-1]["val_mse"] < 1e-4
    assert (run.run_dir / "best.safetensors").exists() and (run.run_dir / "last.safetensors").exists()
    epochs = len(history)
    assert fit_trace(run) == [(e, recipe, UPDATES[recipe]) for e in range(1, epochs + 1)]
    if recipe == "gd":  # the cost curve of the notes: falling every epoch
        costs = [row["train_loss"] for row in history]
        assert all(b < a for a, b in itertools.pairwise(costs))


@pytest.mark.parametrize("recipe", LINE_RECIPES)
def test_every_method_fits_w_2_b_1(train_here, recipe):
    run = train_here("tabular.affine", recipe=recipe)
    assert run.model.weight.item() == pytest.approx(2.0, abs=1e-2)
    assert run.model.bias.item() == pytest.approx(1.0, abs=1e-2)


def test_method_option_switches_the_strategy(train_here):
    run = train_here("tabular.linear", method="sgd", epochs=30)
    assert run.model.weight.item() == pytest.approx(2.0, abs=1e-3)
    assert "w=" in run.printed  # the epoch report prints the weight, like the notes
    assert fit_trace(run) == [(e, "sgd", 3) for e in range(1, 31)]


@pytest.mark.parametrize(("recipe", "method", "updates"), [
    ("autograd", "gd", 1), ("autograd", "minibatch", 3), ("autograd", "grid", 1), ("sgd", "autograd", 3),
])  # fmt: skip
def test_method_overrides_the_recipes_method(train_here, recipe, method, updates):
    """--method with another recipe runs that method with the recipe's batch size (1 here)."""
    run = train_here("tabular.linear", recipe=recipe, method=method, epochs=2)
    expected = [(1, method, updates), (2, method, 0 if method == "grid" else updates)]
    assert fit_trace(run) == expected


def test_logistic_seed_recipe_reproduces_the_notes(train_here):
    run = train_here("tabular.logistic", recipe="seed")
    with torch.no_grad():
        p4 = run.model(torch.tensor([[4.0]])).item()
    assert 0.8 < p4 < 0.95  # the notes print about 0.88


def test_diabetes_mlp_learns_a_separable_rule(train_here, tmp_path):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(120, 8, generator=g) * 2 - 1
    y = (x[:, 0] > 0).float()
    lines = [",".join(f"{v:.4f}" for v in row) + f",{int(t)}" for row, t in zip(x.tolist(), y.tolist())]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    run = train_here("tabular.diabetes", data=str(tmp_path / "d.csv"), epochs=40, lr=0.05)
    assert run.best["metric"] == "val_accuracy" and run.best["value"] >= 0.9
