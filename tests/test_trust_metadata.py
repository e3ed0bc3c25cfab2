"""Damaged or hostile checkpoint metadata: one line naming the file and exit 2, never a traceback;
user and file text printed literally."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from zoo_testkit import Runner

HOSTILE = "[/b] [b]bold :x: \x1b[31mred"


def metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata())


def rewrite(src: Path, dst: Path, drop: tuple[str, ...] = (), **fields: str) -> Path:
    meta = {k: v for k, v in metadata(src).items() if k not in drop}
    save_file(load_file(str(src)), str(dst), metadata={**meta, **fields})
    return dst


def refused(proc: subprocess.CompletedProcess[str], name: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and name in proc.stderr
    return str(proc.stderr)


@pytest.mark.parametrize(
    "fields",
    [
        {"config": "[1, 2, 3]"},
        {"config": "just text"},
        {"data_meta": "[]"},
        {"data_meta": "7"},
        {"hparams": '"lr"'},
        {"hparams": "[0.1]"},
        {"config": "[" * 10_000 + "]" * 10_000},
        {"data_meta": '{"a":' * 10_000 + "1" + "}" * 10_000},
    ],
    ids=["config-list", "config-str", "data_meta-list", "data_meta-int", "hparams-str", "hparams-list",
         "deep-config", "deep-data_meta"],
)  # fmt: skip
def test_damaged_metadata_is_one_line_for_info_and_predict(
    trained: Path, toy_site_module: Path, tmp_path: Path, zoo_cli: Runner, fields
):
    bad = rewrite(trained / "best.safetensors", tmp_path / "bad.safetensors", **fields)
    for args in (("info", str(bad)), ("predict", str(bad), "1,2")):
        proc = zoo_cli(*args, sites=(toy_site_module,))
        assert "RecursionError" not in proc.stderr
        refused(proc, "bad.safetensors")


def test_header_nested_10000_levels_is_refused_without_recursion(tmp_path: Path, zoo_cli: Runner):
    header = ('{"__metadata__": {"format": "zoo"}, "t": ' + '{"a":' * 10_000 + "1" + "}" * 10_001).encode()
    path = tmp_path / "deep.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    proc = zoo_cli("info", str(path))
    assert "RecursionError" not in proc.stderr
    refused(proc, "deep.safetensors")


RESUME_DAMAGE = [
    ({"precision": "fp64"}, ()),
    ({}, ("epoch",)),
    ({"hparams": "EVIL"}, ()),
    ({"epoch": "-100"}, ()),
    ({"rng_state": '{"torch": "not a state", "python": 7}'}, ()),
    ({"optimizer_state": '{"state": {"0": {"momentum_buffer": "x"}}, "param_groups": "no"}'}, ()),
]


@pytest.mark.parametrize(("fields", "drop"), RESUME_DAMAGE, ids=["fp64", "no-epoch", "evil-optimizer", "epoch-100",
                                                                 "rng", "optimizer-state"])  # fmt: skip
def test_damaged_training_state_is_refused_on_resume(
    trained: Path, toy_site_module: Path, tmp_path: Path, zoo_cli: Runner, fields, drop
):
    run = tmp_path / "run"
    shutil.copytree(trained, run, ignore=shutil.ignore_patterns(".lock", "*.png"))
    if fields.get("hparams") == "EVIL":
        hparams = json.loads(metadata(run / "last.safetensors")["hparams"])
        fields = {"hparams": json.dumps({**hparams, "optimizer": "evil"})}
    rewrite(trained / "last.safetensors", run / "last.safetensors", drop=drop, **fields)
    proc = zoo_cli("train", "toy.mlp", "--resume", str(run), "--epochs", "3", "--quiet", sites=(toy_site_module,))
    refused(proc, "last.safetensors")


def test_user_text_is_printed_literally(trained: Path, toy_site_module: Path, tmp_path: Path, zoo_cli: Runner):
    odd = tmp_path / "[b]odd[/b] :x:"
    odd.mkdir(parents=True)
    ckpt = rewrite(trained / "best.safetensors", odd / "best.safetensors", recipe=HOSTILE, note=HOSTILE)
    info = zoo_cli("info", str(ckpt), sites=(toy_site_module,))
    assert info.returncode == 0, info.stdout + info.stderr
    assert "[/b] [b]bold :x:" in info.stdout and "\x1b" not in info.stdout
    predict = zoo_cli("predict", str(ckpt), HOSTILE, sites=(toy_site_module,))
    assert "MarkupError" not in predict.stderr and "Traceback" not in predict.stderr
    assert predict.returncode == 2 and "[/b] [b]bold :x:" in predict.stderr and "\x1b" not in predict.stderr
    missing = zoo_cli("info", str(odd / f"{HOSTILE}.safetensors"), sites=(toy_site_module,))
    assert missing.returncode == 2 and "[/b] [b]bold :x:" in missing.stderr and "\x1b" not in missing.stderr
