"""Untrusted checkpoints and outputs for export, predict and info: nothing destroyed, nothing huge, no traceback.

Checkpoints are the plugins' published weight files with crafted metadata, written by
safetensors itself; the CLI runs in a subprocess where exit codes and stderr matter,
and the library in-process where a family of damaged values is tried.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from zoo.errors import CheckpointError, UsageError, ZooError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

ROOT = Path(__file__).resolve().parents[1]


def _installed(package: str, file: str) -> Path:
    """A published weight file where the installed package keeps it (a wheel or the source tree)."""
    from importlib import resources

    return Path(str(resources.files(package).joinpath(f"weights/{file}")))


WEIGHTS = {
    "vision.fc": _installed("zoo_vision", "fc-default.safetensors"),
    "tabular.affine": _installed("zoo_tabular", "affine-default.safetensors"),
    "tabular.diabetes": _installed("zoo_tabular", "diabetes-default.safetensors"),
    "seq.rnn": _installed("zoo_seq", "rnn-default.safetensors"),
}
DIGIT = ROOT / "packages/zoo-vision/src/zoo_vision/examples/digit-3.png"
INPUTS = {"vision.fc": str(DIGIT), "tabular.affine": "2", "tabular.diabetes": "0,0,0,0,0,0,0,0", "seq.rnn": "hello"}
STABLE = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def craft(model: str, dst: Path, config: dict[str, Any] | None = None, **fields: Any) -> Path:
    """A copy of a published checkpoint whose data_meta (and config) carry ``fields``."""
    src = WEIGHTS[model]
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
    data_meta = {**json.loads(meta["data_meta"]), **fields}
    meta["data_meta"] = json.dumps(data_meta)  # NaN and Infinity as Python writes them
    if config is not None:
        meta["config"] = json.dumps({**json.loads(meta["config"]), **config})
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


def zoo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(OMP_NUM_THREADS="2", ZOO_DATA_DIR=str(cwd / "data"))
    cmd = [sys.executable, "-m", "zoo", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def refused(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr
    return proc.stderr


def strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


# -- outputs: never an input, never through a link, never a device ----------------------
def test_export_never_overwrites_its_input_or_writes_through_a_link(tmp_path: Path, monkeypatch) -> None:
    from zoo.use.export import export_checkpoint

    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "a.safetensors"
    shutil.copy(WEIGHTS["tabular.affine"], ckpt)
    renamed = tmp_path / "m.onnx"
    shutil.copy(ckpt, renamed)
    os.link(ckpt, tmp_path / "hard.onnx")
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    (tmp_path / "link.onnx").symlink_to(target)
    (tmp_path / "dangling.onnx").symlink_to(tmp_path / "nowhere")
    before = ckpt.read_bytes()
    cases = [
        (ckpt, ckpt, "is the input"),
        (renamed, None, "is the input"),  # the default output name is the input's own
        (ckpt, tmp_path / "hard.onnx", "is the input"),
        (ckpt, tmp_path / "link.onnx", "symlink"),
        (ckpt, tmp_path / "dangling.onnx", "symlink"),
        (ckpt, tmp_path, "is a folder"),
        (ckpt, tmp_path / "no" / "x.onnx", "no such folder"),
    ]
    for source, out, words in cases:
        with pytest.raises(UsageError, match=words):
            export_checkpoint(str(source), "onnx", out)
    (tmp_path / "x.pt2.json").symlink_to(target)  # the pt2 side file is checked like the output
    with pytest.raises(UsageError, match="symlink"):
        export_checkpoint(str(ckpt), "pt2", tmp_path / "x.pt2", check=False)
    assert not (tmp_path / "x.pt2").exists()
    assert ckpt.read_bytes() == before and renamed.read_bytes() == before and target.read_text() == "keep me"
    assert not (tmp_path / "nowhere").exists() and not list(tmp_path.glob(".*tmp*"))


def test_export_to_a_device_or_folder_is_refused_up_front_by_the_cli(tmp_path: Path) -> None:
    ckpt = shutil.copy(WEIGHTS["tabular.affine"], tmp_path / "a.safetensors")
    full = zoo("export", str(ckpt), "-f", "pt2", "-o", "/dev/full", cwd=tmp_path)
    refused(full, "/dev/full", "character device")
    assert "try --format" not in full.stderr
    same = zoo("export", "a.safetensors", "-o", "a.safetensors", cwd=tmp_path)
    refused(same, "would destroy the input")
    assert Path(ckpt).read_bytes() == WEIGHTS["tabular.affine"].read_bytes()


def test_export_writes_atomically_with_the_side_file(tmp_path: Path, monkeypatch) -> None:
    from zoo.use.export import export_checkpoint

    monkeypatch.chdir(tmp_path)
    old = tmp_path / "out.pt2"
    old.write_text("previous")
    result = export_checkpoint("tabular.affine", "pt2", old)
    assert result.max_diff is not None and old.read_bytes()[:2] == b"PK"
    assert json.loads(Path(f"{old}.json").read_text())["model"] == "tabular.affine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pt2", "out.pt2.json"]


# -- references: NAME[:TAG] everywhere, written here, never beside a packaged file -------
def test_export_by_name_writes_into_the_current_folder(tmp_path: Path) -> None:
    package = sorted(p.name for p in WEIGHTS["tabular.affine"].parent.iterdir())
    done = zoo("export", "tabular.affine:default", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert strict_json(done.stdout)["path"] == "tabular.affine.onnx" and (tmp_path / "tabular.affine.onnx").is_file()
    assert sorted(p.name for p in WEIGHTS["tabular.affine"].parent.iterdir()) == package


def test_a_registered_name_wins_over_a_file_of_that_name(tmp_path: Path, monkeypatch) -> None:
    import zoo as zoo_lib
    from zoo.files.weights import checkpoint_file, looks_like_path

    monkeypatch.chdir(tmp_path)
    shutil.copy(WEIGHTS["vision.fc"], tmp_path / "tabular.affine")
    assert not looks_like_path("tabular.affine") and looks_like_path("./tabular.affine")
    assert checkpoint_file("tabular.affine") == WEIGHTS["tabular.affine"].resolve()
    assert zoo_lib.load("tabular.affine").spec.full_name == "tabular.affine"
    assert zoo_lib.load("./tabular.affine").spec.full_name == "vision.fc"
    shutil.copy(WEIGHTS["vision.fc"], tmp_path / "unregistered")
    assert looks_like_path("unregistered")
    done = zoo("predict", "tabular.affine", "2", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert strict_json(done.stdout)[0]["values"] == [2.0] and "./tabular.affine" in done.stderr


# -- a config that asks for far more than the file holds ----------------------------------
def test_a_config_asking_for_200000_layers_is_refused_before_building(tmp_path: Path) -> None:
    bomb = craft("seq.rnn", tmp_path / "bomb.safetensors", config={"num_layers": 200_000})
    assert bomb.stat().st_size < 4096
    refused(zoo("predict", str(bomb), "hello", cwd=tmp_path), "bomb.safetensors", "build limit", "num_layers")


def test_the_build_limit_stops_any_builder() -> None:
    from zoo.files.buildlimit import BuildLimitError, bounded_build, checkpoint_limit

    with pytest.raises(BuildLimitError), torch.device("meta"), bounded_build(checkpoint_limit(2)):
        nn.Sequential(*(nn.Linear(2, 2) for _ in range(100_000)))
    with torch.device("meta"), bounded_build(checkpoint_limit(2)):
        nn.Sequential(nn.Linear(2, 2), nn.ReLU())  # what the file can hold builds as usual
    nn.Sequential(*(nn.Linear(2, 2) for _ in range(600)))  # hooks are gone after the block


# -- data_meta that sizes allocations -----------------------------------------------------
def test_an_export_example_batch_is_bounded_before_it_is_allocated(tmp_path: Path) -> None:
    from zoo.contracts.adapter import ModelAdapter
    from zoo.plugins.registry import get_registry
    from zoo.use.export import example_batch
    from zoo.use.loaded import LoadedModel

    class Huge(ModelAdapter):  # a third-party adapter that trusts its metadata
        def example_batch(self, meta: dict[str, Any], batch: int = 2, model: nn.Module | None = None) -> torch.Tensor:
            return torch.randn(batch, int(meta["n"]))

    spec = get_registry().model("tabular.affine")
    loaded = LoadedModel(nn.Linear(1, 1), {"data_meta": {"n": 10**10}}, spec, tmp_path / "x.safetensors")
    with pytest.raises(CheckpointError, match="MiB limit"):
        example_batch(Huge(spec), loaded, 3)
    vision = craft("vision.fc", tmp_path / "big.safetensors", image_size=30_000)
    from zoo.use.export import export_checkpoint

    with pytest.raises(CheckpointError, match="image_size"):
        export_checkpoint(str(vision), "onnx", tmp_path / "big.onnx")


DAMAGE = {
    "vision.fc": ("classes", "mean", "std", "image_size"),
    "tabular.diabetes": ("features", "columns", "label_index", "standardize", "feature_names"),
    "seq.rnn": ("vocab", "seq_len", "example", "mode"),
}
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, -1, 30_000, 10**9, float("nan"), float("inf"), 0.0, -0.0]),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.lists(st.one_of(st.integers(-3, 30), st.text(max_size=3), st.floats()), max_size=12),
    st.dictionaries(st.sampled_from(["mean", "std", "a"]), st.lists(st.floats(), max_size=9), max_size=3),
)


@pytest.mark.parametrize("model", sorted(DAMAGE))
def test_damaged_data_meta_gives_a_result_or_one_checkpoint_error(model: str, tmp_path: Path) -> None:
    import zoo as zoo_lib
    from zoo.contracts.adapter import adapter_for
    from zoo.use.export import example_batch, export_metadata

    @STABLE
    @given(key=st.sampled_from(DAMAGE[model]), value=VALUES)
    def check(key: str, value: Any) -> None:
        path = craft(model, tmp_path / "damaged.safetensors", **{key: value})
        try:
            loaded = zoo_lib.load(str(path))
            results = loaded.predict([INPUTS[model]])
            adapter = adapter_for(loaded.spec)
            example = example_batch(adapter, loaded, 2)
            export_metadata(loaded, adapter, example)
        except ZooError as exc:
            assert "damaged.safetensors" in str(exc) or isinstance(exc, UsageError)
            return
        probabilities = [r.get("probability") for r in results if isinstance(r.get("probability"), float)]
        assert all(p == p for p in probabilities)  # a NaN probability would be a silent wrong answer

    check()


def test_damaged_data_meta_on_the_cli(tmp_path: Path) -> None:
    std = craft("vision.fc", tmp_path / "std0.safetensors", std=0)
    refused(zoo("predict", str(std), str(DIGIT), cwd=tmp_path), "std0.safetensors", "data_meta.std")
    short = craft("vision.fc", tmp_path / "short.safetensors", classes=["a", "b"])
    refused(zoo("predict", str(short), str(DIGIT), cwd=tmp_path), "short.safetensors", "data_meta.classes")
    text = craft("tabular.diabetes", tmp_path / "features.safetensors", features="x")
    refused(zoo("export", str(text), cwd=tmp_path), "features.safetensors", "data_meta.features")


# -- --json is JSON ----------------------------------------------------------------------
def test_json_output_stays_json_with_non_finite_values(tmp_path: Path) -> None:
    done = zoo("predict", "tabular.affine", "3.4e38", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert strict_json(done.stdout)[0]["output"] is None and "written as null" in done.stderr
    src = WEIGHTS["tabular.affine"]
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
    save_file(load_file(str(src)), str(tmp_path / "nan.safetensors"), metadata={**meta, "metrics": '{"mse": NaN}'})
    info = zoo("info", "nan.safetensors", "--json", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert strict_json(info.stdout)["metrics"] == {"mse": None} and "written as null" in info.stderr


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(value=JSONISH)
def test_jsonout_always_writes_strict_json(value: Any) -> None:
    from zoo.jsonout import dumps

    text, replaced = dumps(value)
    strict_json(text)
    assert replaced == non_finite(value)


def non_finite(value: Any) -> int:
    if isinstance(value, float):
        return 0 if math.isfinite(value) else 1
    if isinstance(value, dict):
        return sum(non_finite(v) for v in value.values())
    if isinstance(value, list):
        return sum(non_finite(v) for v in value)
    return 0
