"""Checkpoints through the CLI: every kind of bad file gets one clear error and nothing from it runs."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from zoo_testkit import Runner


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


def test_plot_and_runs(zoo_cli: Runner, trained: Path, toy_site_module: Path, tmp_path: Path) -> None:
    (trained / "curves.png").unlink()
    result = zoo_cli("plot", str(trained), sites=(toy_site_module,), check=True)
    assert (trained / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", result.stdout
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
    assert "precision bf16" in bf16.stdout
    row = json.loads((tmp_path / "bf16" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["val_accuracy"] > 0.5
