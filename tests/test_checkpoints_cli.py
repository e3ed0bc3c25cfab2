"""Checkpoints through the CLI: every kind of bad file gets one clear error and nothing from it runs."""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
import struct
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from zoo_testkit import Runner, wait_for


class _Planted:
    """Unpickling this would create a marker file: proof that nothing was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (str(self.marker), "executed"))


def _assert_clear(result: object, path: Path, *needles: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    assert str(path) in stderr, stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)
    assert "Traceback" not in stderr


def test_bad_files_each_get_one_clear_error(
    zoo_cli: Runner, trained: Path, toy_site_module: Path, tmp_path: Path
) -> None:
    good = (trained / "best.safetensors").read_bytes()
    marker = tmp_path / "EXECUTED"
    cases: dict[str, tuple[bytes, str]] = {
        "truncated.safetensors": (good[: len(good) - 40], "truncated"),
        "text.safetensors": (b"hello, this is not a checkpoint at all\n" * 3, "header"),
        "pickle.safetensors": (pickle.dumps(_Planted(marker)), "pickle"),
        "empty.safetensors": (b"", "empty"),
    }
    # A header that lies about where its tensor ends.
    header_len = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8 : 8 + header_len])
    first = next(k for k in header if k != "__metadata__")
    begin, end = header[first]["data_offsets"]
    header[first]["data_offsets"] = [begin, end + 4096]
    blob = json.dumps(header).encode()
    cases["lying.safetensors"] = (struct.pack("<Q", len(blob)) + blob + good[8 + header_len :], "offset")
    for name, (content, needle) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        result = zoo_cli("eval", str(path), sites=(toy_site_module,))
        _assert_clear(result, path)
        assert needle in result.stderr.lower(), (name, result.stderr)
        if name in ("pickle.safetensors", "lying.safetensors"):
            for command in (("predict", str(path), "0,1"), ("info", str(path))):
                _assert_clear(zoo_cli(*command, sites=(toy_site_module,)), path)
    assert not marker.exists()
    missing = tmp_path / "nope.safetensors"
    _assert_clear(zoo_cli("eval", str(missing), sites=(toy_site_module,)), missing)


def test_wrong_model_missing_plugin_and_shapes(
    zoo_cli: Runner, trained: Path, toy_site_module: Path, tmp_path: Path
) -> None:
    best = trained / "best.safetensors"
    tensors = load_file(str(best))
    from safetensors import safe_open

    with safe_open(str(best), "pt") as fh:
        meta = fh.metadata()
    # Tensors of toy.mlp under a header that says toy.line.
    other = tmp_path / "other.safetensors"
    save_file(tensors, str(other), metadata={**meta, "model": "toy.line", "config": '{"features": 2}'})
    _assert_clear(zoo_cli("eval", str(other), sites=(toy_site_module,)), other, "does not fit model 'toy.line'")
    # Same model, resized layer.
    shapes = tmp_path / "shapes.safetensors"
    bigger = dict(tensors)
    bigger["model/0.weight"] = torch.zeros(16, 2)
    save_file(bigger, str(shapes), metadata=meta)
    _assert_clear(zoo_cli("predict", str(shapes), "0,1", sites=(toy_site_module,)), shapes, "shapes do not match")
    # A plain safetensors file with no zoo metadata.
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.ones(2)}, str(plain))
    _assert_clear(zoo_cli("eval", str(plain), sites=(toy_site_module,)), plain, "not a zoo checkpoint")
    # The plugin that made it is not installed here.
    result = zoo_cli("eval", str(best), sites=(toy_site_module,), env={"ZOO_LOAD_PLUGINS": ""})
    _assert_clear(result, best, "not installed", "pip install toy-plugin")


HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def test_plot_and_runs(zoo_cli: Runner, trained: Path, toy_site_module: Path, tmp_path: Path) -> None:
    # Training draws curves.png in a background process, a moment after the command ends.
    assert wait_for(trained / "curves.png", seconds=60 if HAS_MATPLOTLIB else 1) == HAS_MATPLOTLIB
    run = tmp_path / "run"  # a copy: the shared run folder stays as it was for other tests
    shutil.copytree(trained, run)
    (run / "curves.png").unlink(missing_ok=True)
    result = zoo_cli("plot", str(run), sites=(toy_site_module,))
    if HAS_MATPLOTLIB:
        assert result.returncode == 0, result.stderr
        assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", result.stdout
    else:  # the optional extra is missing: one clear line naming it
        assert result.returncode == 2 and "matplotlib" in result.stderr and "Traceback" not in result.stderr
        assert not (run / "curves.png").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = zoo_cli("plot", str(empty), sites=(toy_site_module,))
    assert bad.returncode == 2 and "metrics.jsonl" in bad.stderr
    bad_runs = zoo_cli("runs", str(tmp_path / "nothing"), sites=(toy_site_module,))
    assert bad_runs.returncode == 2


def test_deterministic_runs_are_identical_and_bf16_trains(
    zoo_cli: Runner, toy_site_module: Path, tmp_path: Path
) -> None:
    for name in ("a", "b"):
        zoo_cli(
            "train",
            "toy.mlp",
            "--out",
            str(tmp_path / name),
            "--deterministic",
            "--seed",
            "7",
            "--quiet",
            sites=(toy_site_module,),
            check=True,
        )
    a, b = load_file(str(tmp_path / "a" / "last.safetensors")), load_file(str(tmp_path / "b" / "last.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model/"))
    bf16 = zoo_cli(
        "train",
        "toy.mlp",
        "--out",
        str(tmp_path / "bf16"),
        "--precision",
        "bf16",
        "--quiet",
        sites=(toy_site_module,),
        check=True,
    )
    assert "best val_accuracy" in bf16.stdout
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["precision"] == "bf16"
    row = json.loads((tmp_path / "bf16" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["val_accuracy"] > 0.5


def test_predict_takes_negative_numbers(zoo_cli: Runner, toy_site_module: Path, tmp_path: Path) -> None:
    """Inputs may start with a minus sign: they are inputs, not options."""
    run = tmp_path / "line"
    zoo_cli(
        "train", "toy.line", "--out", str(run), "--epochs", "30", "--lr", "0.05", "--quiet",
        sites=(toy_site_module,), check=True,
    )  # fmt: skip
    # last.safetensors: this run's best.safetensors header comes out at a length that today's
    # reader takes for a pickle (test_header_length_never_looks_like_a_pickle)
    checkpoint = str(run / "last.safetensors")
    result = zoo_cli("predict", checkpoint, "-0.5,-1.5", "--json", "-2,0.25", sites=(toy_site_module,), check=True)
    got = json.loads(result.stdout)
    assert [r["input"] for r in got] == ["-0.5,-1.5", "-2,0.25"]
    # toy.line learns y = 2 x1 - x2 + 0.5
    assert abs(got[0]["output"] - (2 * -0.5 + 1.5 + 0.5)) < 0.1, got
    assert abs(got[1]["output"] - (2 * -2 - 0.25 + 0.5)) < 0.1, got


def test_header_length_never_looks_like_a_pickle(zoo_cli: Runner, toy_site_module: Path, tmp_path: Path) -> None:
    """For these sizes the header length's first byte is 0x80, as a pickle's is: a real file must not be refused."""
    path = tmp_path / "plain.safetensors"
    for pad in range(2000):
        save_file({"w": torch.ones(2)}, str(path), metadata={"note": "x" * pad})
        if struct.unpack("<Q", path.read_bytes()[:8])[0] == 1152:
            break
    assert path.read_bytes()[:2] == b"\x80\x04"
    # A valid safetensors file without zoo metadata: the error must say that, not "pickle".
    _assert_clear(zoo_cli("info", str(path), sites=(toy_site_module,)), path, "not a zoo checkpoint")
