"""``zoo train M --weights REF`` when the data or the user asks for other layer sizes, and bare tags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from zoo_testkit import Runner, write_plugin

# A classifier whose class count comes from the data (DataBundle.config), as an image folder's does.
FT_PLUGIN = """
from zoo import DatasetSpec, ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("blobs", "k gaussian blobs", "ftplug.impl:load", options={"classes": 3}))

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("net", "k-class MLP", "multiclass", "ftplug.impl:build", "ft.blobs",
                       recipes=(Recipe("default", "sgd", {"epochs": 2, "batch_size": 0, "lr": 0.1}),),
                       config={"hidden": 8, "num_classes": 3}))
"""
FT_IMPL = """
import math
import torch
from torch import nn
from zoo.contracts.data import DataBundle, TensorSplit

def build(hidden=8, num_classes=3):
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

def load(request):
    k = int(request.options["classes"])
    g = torch.Generator().manual_seed(5)
    y = torch.arange(30 * k) % k
    angles = 2 * math.pi * y.double() / k
    x = torch.stack([3 * torch.cos(angles), 3 * torch.sin(angles)], 1).float()
    x = x + 0.3 * torch.randn(len(y), 2, generator=g)
    cut = len(y) * 2 // 3
    return DataBundle(TensorSplit(x[:cut], y[:cut]), TensorSplit(x[cut:], y[cut:]), num_classes=k,
                      config={"num_classes": k})
"""
ENV = {"ZOO_LOAD_PLUGINS": "ft"}


@pytest.fixture
def ft(tmp_path: Path, zoo_cli: Runner) -> tuple[Path, Path]:
    """The plugin's site folder and a trained 3-class run to start from."""
    files = {"__init__.py": FT_PLUGIN, "impl.py": FT_IMPL}
    site = write_plugin(tmp_path / "site", "ft-plugin", "ftplug", files, {"ft": "ftplug"})
    base = tmp_path / "base"
    zoo_cli("train", "ft.net", "--epochs", "3", "--out", str(base), "-q", sites=(site,), env=ENV, check=True)
    return site, base


def _tensors(path: Path) -> tuple[dict, dict]:
    from zoo.files.checkpoint import read_checkpoint

    return read_checkpoint(path)


def test_other_class_count_from_the_data_keeps_the_body_and_says_so(zoo_cli: Runner, ft, tmp_path: Path) -> None:
    site, base = ft
    run = tmp_path / "ft"
    args = ("train", "ft.net", "--weights", str(base / "best.safetensors"), "--classes", "4")
    result = zoo_cli(*args, "--epochs", "1", "--lr", "1e-9", "--out", str(run), sites=(site,), env=ENV, check=True)
    line = "weights: copied 2 tensors; re-initialised 2.weight [3, 8] -> [4, 8], 2.bias [3] -> [4]"
    assert line in result.stdout
    assert result.stdout.index(line) < result.stdout.index("epoch 1/1")  # in the header
    config = json.loads((run / "config.json").read_text())
    assert config["config"] == {"hidden": 8, "num_classes": 4}
    assert config["weights_transfer"] == line.removeprefix("weights: ")
    old, _ = _tensors(base / "best.safetensors")
    new, meta = _tensors(run / "best.safetensors")
    assert meta["weights_transfer"] == config["weights_transfer"]
    assert meta["config"]["num_classes"] == 4
    assert list(new["model/2.weight"].shape) == [4, 8]
    assert (new["model/0.weight"] - old["model/0.weight"]).abs().max().item() < 1e-6  # the body came over
    # A run folder that --config reads back: the transfer line is a record, not a setting.
    again = zoo_cli("train", "--config", str(run / "config.json"), "--print-config", sites=(site,), env=ENV)
    assert again.returncode == 0, again.stderr


def test_the_class_count_given_by_the_user_resizes_the_head_too(zoo_cli: Runner, ft, tmp_path: Path) -> None:
    site, base = ft
    args = ("train", "ft.net", "--weights", str(base), "--num-classes", "5", "--epochs", "1")
    result = zoo_cli(*args, "--classes", "5", "--out", str(tmp_path / "five"), sites=(site,), env=ENV, check=True)
    assert "re-initialised 2.weight [3, 8] -> [5, 8], 2.bias [3] -> [5]" in result.stdout
    # A head that does not fit the data's classes is refused before training, not a traceback in evaluation.
    wrong = zoo_cli(*args, "--out", str(tmp_path / "wrong"), sites=(site,), env=ENV)
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert "ft.net would have 5 outputs but its data has 3 classes" in wrong.stderr


def test_same_sizes_copy_everything_without_a_note(zoo_cli: Runner, ft, tmp_path: Path) -> None:
    site, base = ft
    args = ("train", "ft.net", "--weights", str(base), "--epochs", "1", "--out", str(tmp_path / "same"))
    result = zoo_cli(*args, sites=(site,), env=ENV, check=True)
    assert f"starting from weights {base}" in result.stdout
    assert "re-initialised" not in result.stdout
    assert "weights_transfer" not in json.loads((tmp_path / "same" / "config.json").read_text())


def test_an_architecture_key_still_contradicts_the_weights(zoo_cli: Runner, ft, tmp_path: Path) -> None:
    site, base = ft
    args = ("train", "ft.net", "--weights", str(base), "--hidden", "16", "--out", str(tmp_path / "no"))
    result = zoo_cli(*args, sites=(site,), env=ENV)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--hidden 16 contradicts the weights" in result.stderr
    assert "hidden = 8" in result.stderr
    assert not (tmp_path / "no").exists()


def _vision() -> bool:
    import importlib.util

    return importlib.util.find_spec("zoo_vision") is not None


@pytest.mark.skipif(not _vision(), reason="zoo-vision is not installed here")
def test_a_bare_tag_means_the_models_own_published_weights(zoo_cli: Runner, tmp_path: Path) -> None:
    from test_distributed import _write_idx

    data = tmp_path / "data"
    _write_idx(data, 200, 0)
    _write_idx(data, 60, 1)
    env = {"ZOO_LOAD_PLUGINS": "vision", "ZOO_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    common = ("--epochs", "1", "--device", "cpu", "--data-dir", str(data))
    cli = zoo_cli("train", "vision.cnn", "--weights", "default", *common, "--out", str(tmp_path / "a"), env=env)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "starting from weights vision.cnn:default" in cli.stdout
    code = (
        "import sys, zoo; run = zoo.train('vision.cnn', weights='default', epochs=1, device='cpu', "
        "data_dir=sys.argv[1], out=sys.argv[2], quiet=True); print(run.status)"
    )
    full = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    full.update(env)
    lib = subprocess.run(
        [sys.executable, "-c", code, str(data), str(tmp_path / "b")],
        capture_output=True,
        text=True,
        env=full,
        timeout=300,
    )
    assert lib.returncode == 0, lib.stdout + lib.stderr
    assert lib.stdout.strip().splitlines()[-1] == "finished"
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["weights"] == "vision.cnn:default"
