"""``zoo check``: the conformance kit passes real plugins and names what is wrong with broken ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from zoo_testkit import Runner, write_plugin

from zoo.plugins.registry import FIRST_PARTY

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
from zoo.contracts.data import DataBundle, TensorSplit

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


EVERY_COMMAND = {
    "registers without torch",
    "metadata is complete",
    "trains a step on a sample",
    "recipe targets name reported metrics",
    "save and load round-trip",
    "evaluates the sample",
    "predicts its examples",
    "exports to onnx and pt2",
    "serves a round trip",
    "published weights load and predict by name",
}


def test_first_party_plugins_pass(zoo_cli: Runner) -> None:
    done = zoo_cli("check", "--json", env={"ZOO_LOAD_PLUGINS": ",".join(FIRST_PARTY)})
    results = json.loads(done.stdout)
    failed = [r for r in results if not r["ok"]]
    assert done.returncode == 0 and not failed, failed
    models = {r["model"] for r in results if r["model"]}
    assert len(models) >= 9
    assert {r["check"] for r in results} >= EVERY_COMMAND
    every = [r for r in results if r["check"] in ("exports to onnx and pt2", "serves a round trip")]
    assert len(every) == 2 * len(models) and not any(r["message"] for r in every), every  # ran, not skipped
    published = {r["model"] for r in results if r["check"] == "published weights load and predict by name"}
    assert {"vision.cnn", "tabular.diabetes"} <= published


# One sound model; without the export and serve extras those checks pass and say what to install.
GOOD_PLUGIN = """
from zoo import DatasetSpec, ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("blobs", "three blobs", "goodplug.impl:load"))

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("line", "three scores from two numbers", builder="goodplug.impl:good", task="multiclass",
                       dataset="fine.blobs", recipes=(Recipe("default", "sgd", {"epochs": 1, "lr": 0.1}),),
                       input_shape="(N, 2)", output_shape="(N, 3)", examples=("1,2",)))
"""
WITHOUT_EXTRAS = """
import sys
for name in ("onnx", "onnxscript", "onnxruntime", "starlette", "uvicorn", "httpx"):
    sys.modules[name] = None
sys.argv = ["zoo", "check", "fine"]
from zoo.cli import main
main()
"""


def test_missing_extras_are_skipped_with_the_reason(tmp_path: Path) -> None:
    site = write_plugin(
        tmp_path / "site",
        "fine-plugin",
        "goodplug",
        {"__init__.py": GOOD_PLUGIN, "impl.py": BROKEN_IMPL},
        {"fine": "goodplug"},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(PYTHONPATH=str(site), ZOO_LOAD_PLUGINS="fine", ZOO_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(
        line.startswith("ok   fine.line: exports to onnx and pt2: onnx skipped (pip install 'zoo-core[export]')")
        for line in lines
    ), lines
    assert "ok   fine.line: serves a round trip: serve: skipped (pip install 'zoo-core[serve]')" in lines, lines


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
        "broken.target: recipe targets" in f
        and "default targets 'val_accuracy'" in f
        and "reports accuracy, " in f
        and "loss" in f
        and "confusion" not in f
        for f in fails
    ), fails
    assert len(fails) == 4 and "4 failed" in lines[-1]
    as_json = json.loads(zoo_cli("check", "broken", "--json", sites=(site,), env={"ZOO_LOAD_PLUGINS": "broken"}).stdout)
    assert {r["plugin"] for r in as_json} == {"broken"}


def test_unknown_plugin_is_a_failure(zoo_cli: Runner) -> None:
    done = zoo_cli("check", "nosuch")
    assert done.returncode == 1 and "no such plugin is installed" in done.stdout
