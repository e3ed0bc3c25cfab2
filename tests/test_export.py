"""zoo export: every first-party model to ONNX and pt2, checked against PyTorch; the clear failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serve_testkit import TINY_RUNS, run_zoo, train_tiny, zoo_env
from zoo_testkit import write_plugin

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

_CACHE: dict[str, Path] = {}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export")


def checkpoint(name: str, work: Path) -> Path:
    """Each model trained once for the whole module."""
    if name not in _CACHE:
        _CACHE[name] = train_tiny(name, work)
    return _CACHE[name]


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_every_model_exports_and_agrees(name: str, fmt: str, work: Path) -> None:
    from zoo.use.export import export_checkpoint

    ckpt = checkpoint(name, work)
    result = export_checkpoint(ckpt, fmt, work / f"{name}.{fmt}")
    assert result.path.stat().st_size > 0
    assert result.max_diff is not None and result.max_diff <= 1e-4
    if fmt == "onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
        meta = json.loads(props["zoo"])
        assert props["model"] == name
    else:
        assert result.meta_path is not None
        meta = json.loads(result.meta_path.read_text())
    assert meta["model"] == name and meta["input"]["shape"][0] == "batch"
    if name.startswith("vision."):
        assert meta["preprocessing"]["normalize"]["std"] > 0 and len(meta["labels"]) == 10
    if name.startswith("seq."):
        assert meta["vocab"]


def test_cli_prints_the_check_and_tolerance(work: Path) -> None:
    ckpt = checkpoint("tabular.logistic", work)
    proc = run_zoo("export", str(ckpt), "--format", "pt2", "-o", str(work / "cli.pt2"), cwd=work)
    assert "max abs diff" in proc.stdout and "<= 0.0001" in proc.stdout
    assert (work / "cli.pt2.json").exists()
    assert "Traceback" not in proc.stderr


UNEXPORTABLE_PLUGIN = """
import torch
from torch import nn
from zoo import DatasetSpec, ModelSpec, Recipe, hookimpl
from zoo.contracts.data import DataBundle, TensorSplit

class Zeta(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
    def forward(self, x):
        return self.linear(torch.special.zeta(x.abs() + 2, x.abs() + 1))

def build():
    return Zeta()

def load(request):
    x = torch.rand(16, 2)
    return DataBundle(TensorSplit(x, x.sum(dim=1, keepdim=True)), None)

@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("pts", "points", "zetaplug:load"))

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("zeta", "a zeta function layer", "regression", "zetaplug:build", "zeta.pts",
                       recipes=(Recipe("default", "sgd", {"epochs": 1, "batch_size": 0, "lr": 0.01}),),
                       input_shape="(N, 2)"))
"""


def test_unexportable_operation_is_named(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_plugin(site, "zeta-plugin", "zetaplug", {"__init__.py": UNEXPORTABLE_PLUGIN}, {"zeta": "zetaplug"})
    env = zoo_env(PYTHONPATH=str(site), ZOO_LOAD_PLUGINS="zeta", ZOO_DATA_DIR=str(tmp_path / "d"))

    def zoo(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "zoo", *args]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert zoo("train", "zeta.zeta", "--out", "run", "--quiet").returncode == 0
    proc = zoo("export", "run/best.safetensors", "--format", "onnx")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "aten::special_zeta" in proc.stderr and "cannot export to ONNX" in proc.stderr
    assert "Traceback" not in proc.stderr and "hint: try --format pt2" in proc.stderr


def test_missing_export_extra_says_what_to_install(work: Path) -> None:
    ckpt = checkpoint("tabular.linear", work)
    code = (
        "import sys; sys.modules['onnxscript'] = None; sys.argv = ['zoo', 'export', sys.argv[1]]\n"
        "from zoo.cli import main; main()"
    )
    env = zoo_env(ZOO_DATA_DIR=str(work / "data"))
    proc = subprocess.run([sys.executable, "-c", code, str(ckpt)], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "needs onnxscript" in proc.stderr and "pip install 'zoo-core[export]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_format_is_a_usage_error(work: Path) -> None:
    ckpt = checkpoint("tabular.linear", work)
    proc = run_zoo("export", str(ckpt), "--format", "tflite", cwd=work, check=False)
    assert proc.returncode == 2 and "unknown export format 'tflite'" in proc.stderr
    assert os.path.exists(ckpt)
