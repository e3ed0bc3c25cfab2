"""``zoo check``: the conformance kit passes real plugins and names what is wrong with broken ones."""

from __future__ import annotations

import json
from pathlib import Path

from zoo_testkit import Runner, write_plugin

# Four models, each broken in one way a plugin author can get wrong.
BROKEN_PLUGIN = """
from zoo import DatasetSpec, ModelSpec, Option, Recipe, hookimpl

RECIPE = (Recipe("default", "sgd", {"epochs": 1, "batch_size": 4, "lr": 0.1}),)

@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("blobs", "three blobs", "brokenplug.impl:load"))

@hookimpl
def zoo_register_models(register):
    common = dict(task="multiclass", dataset="broken.blobs", recipes=RECIPE, input_shape="(N, 2)",
                  output_shape="(N, 3)", examples=("1,2",))
    register(ModelSpec("shape", "outputs one score for three classes", builder="brokenplug.impl:one_score",
                       **common))
    register(ModelSpec("amnesia", "forgets a random scale on reload", builder="brokenplug.impl:amnesia",
                       **common))
    register(ModelSpec("option", "declares an int option with a str default", builder="brokenplug.impl:good",
                       predict_options=(Option("top", "3", "how many", kind="int"),), **common))
    targeted = (Recipe("default", "sgd", {"epochs": 1, "batch_size": 4, "lr": 0.1},
                       target=("val_accuracy", 0.9)),)
    register(ModelSpec("target", "targets a metric evaluation never names", builder="brokenplug.impl:good",
                       **{**common, "recipes": targeted}))
"""

BROKEN_IMPL = """
import torch
from torch import nn
from zoo.data import DataBundle, TensorSplit

def load(request):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(12) % 3
    return DataBundle(TensorSplit(torch.randn(12, 2, generator=g), y), num_classes=3)

def one_score():
    return nn.Linear(2, 1)

class Amnesia(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 3)
        self.scale = torch.rand(1) + 1.0  # a plain attribute: never saved

    def forward(self, x):
        return self.linear(x) * self.scale

def amnesia():
    return Amnesia()

def good():
    return nn.Linear(2, 3)
"""


def test_first_party_plugins_pass(zoo_cli: Runner) -> None:
    done = zoo_cli("check", "--json", env={"ZOO_LOAD_PLUGINS": "tabular,vision,seq"})
    results = json.loads(done.stdout)
    failed = [r for r in results if not r["ok"]]
    assert done.returncode == 0 and not failed, failed
    models = {r["model"] for r in results if r["model"]}
    assert len(models) == 9
    assert {r["check"] for r in results} >= {
        "registers without torch",
        "metadata is complete",
        "trains a step on a sample",
        "recipe targets name reported metrics",
        "save and load round-trip",
        "predicts its examples",
    }


def test_broken_plugin_fails_with_a_report_per_model(zoo_cli: Runner, tmp_path: Path) -> None:
    site = write_plugin(
        tmp_path / "site",
        "broken-plugin",
        "brokenplug",
        {"__init__.py": BROKEN_PLUGIN, "impl.py": BROKEN_IMPL},
        {"broken": "brokenplug"},
    )
    done = zoo_cli("check", "broken", sites=(site,), env={"ZOO_LOAD_PLUGINS": "broken"})
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    fails = [line for line in lines if line.startswith("FAIL")]
    assert any("broken.shape: trains a step" in f and "3 classes but the model outputs 1" in f for f in fails), fails
    assert any("broken.amnesia: save and load round-trip" in f and "differ" in f for f in fails), fails
    assert any("broken.option: metadata" in f and "--top is declared int" in f for f in fails), fails
    assert any(
        "broken.target: recipe targets" in f and "default targets 'val_accuracy'" in f and "reports accuracy, loss" in f
        for f in fails
    ), fails
    assert len(fails) == 4 and "4 failed" in lines[-1]
    as_json = json.loads(zoo_cli("check", "broken", "--json", sites=(site,), env={"ZOO_LOAD_PLUGINS": "broken"}).stdout)
    assert {r["plugin"] for r in as_json} == {"broken"}


def test_unknown_plugin_is_a_failure(zoo_cli: Runner) -> None:
    done = zoo_cli("check", "nosuch")
    assert done.returncode == 1 and "no such plugin is installed" in done.stdout
