"""Usage errors not covered elsewhere: each bad input gets exit 2, one line saying what, no traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from zoo_testkit import Runner


def _assert_usage(result: object, *needles: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)


def test_command_line_mistakes(zoo_cli: Runner, trained: Path, toy_site_module: Path, tmp_path: Path) -> None:
    sites = (toy_site_module,)
    _assert_usage(zoo_cli("predict", str(trained / "best.safetensors"), sites=sites), "give at least one input")
    _assert_usage(zoo_cli("train", "toy.line", "--device", "tpu", sites=sites), "unknown device 'tpu'", "available")
    _assert_usage(zoo_cli("train", "toy.line", "--lr", "0", sites=sites), "--lr must be a finite number above 0")
    _assert_usage(zoo_cli("train", "toy.line", "stray", sites=sites), "unexpected argument 'stray'")
    _assert_usage(zoo_cli("train", "toy.line", "--resume", str(tmp_path / "nowhere"), sites=sites), "cannot resume")


def test_resume_mistakes(zoo_cli: Runner, trained: Path, toy_site_module: Path, tmp_path: Path) -> None:
    sites = (toy_site_module,)
    _assert_usage(zoo_cli("train", "toy.line", "--resume", str(trained), sites=sites), "holds a run of 'toy.mlp'")
    stateless = tmp_path / "stateless"
    stateless.mkdir()
    shutil.copy(trained / "best.safetensors", stateless / "last.safetensors")
    _assert_usage(zoo_cli("train", "toy.mlp", "--resume", str(stateless), sites=sites), "has no training state")


def test_metadata_that_cannot_be_trusted(zoo_cli: Runner, trained: Path, toy_site_module: Path, tmp_path: Path) -> None:
    best = trained / "best.safetensors"
    tensors = load_file(str(best))
    with safe_open(str(best), "pt") as fh:
        meta = fh.metadata()
    cases = {
        "future.safetensors": ({**meta, "format_version": "9"}, "format '9' is not supported"),
        "badjson.safetensors": ({**meta, "config": "{"}, "'config' is not valid JSON"),
        "nomodel.safetensors": ({k: v for k, v in meta.items() if k != "model"}, "no 'model' field"),
    }
    for name, (metadata, needle) in cases.items():
        path = tmp_path / name
        save_file(tensors, str(path), metadata=metadata)
        result = zoo_cli("eval", str(path), sites=(toy_site_module,))
        _assert_usage(result, str(path), needle)
    info = json.loads(zoo_cli("info", str(best), "--json", sites=(toy_site_module,), check=True).stdout)
    assert info["resumable"] is False


def test_out_that_is_or_sits_under_a_file(zoo_cli: Runner, toy_site_module: Path, tmp_path: Path) -> None:
    sites = (toy_site_module,)
    plain = tmp_path / "notes.txt"
    plain.write_text("not a folder\n")
    for out in (plain, plain / "run"):
        result = zoo_cli("train", "toy.line", "--epochs", "1", "--out", str(out), sites=sites)
        _assert_usage(result, f"cannot use {out} as a run folder", f"{plain} is a file")
    assert plain.read_text() == "not a folder\n"
