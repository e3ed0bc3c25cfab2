"""The training engine through the real CLI: run folder, eval, predict, resume, Ctrl-C, NaN."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from zoo_testkit import Runner


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model/")}


def _same(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_train_writes_run_and_eval_matches(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = zoo_cli(
        "train", "toy.mlp", "--out", str(run), "--epochs", "3", "--seed", "5", sites=(toy_site,), check=True
    )
    assert "epoch 3/3" in result.stdout and "val_accuracy" in result.stdout
    for name in ("last.safetensors", "best.safetensors", "metrics.jsonl"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_accuracy", "val_per_class_accuracy"} <= rows[-1].keys()
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["val_loss"]))  # ties go to the lower loss
    evaluated = json.loads(
        zoo_cli("eval", str(run / "best.safetensors"), "--json", sites=(toy_site,), check=True).stdout
    )
    assert abs(evaluated["accuracy"] - best["val_accuracy"]) < 1e-9
    assert abs(evaluated["loss"] - best["val_loss"]) < 1e-5
    last = json.loads(zoo_cli("eval", str(run / "last.safetensors"), "--json", sites=(toy_site,), check=True).stdout)
    assert abs(last["loss"] - rows[-1]["val_loss"]) < 1e-5
    info = zoo_cli("info", str(run / "last.safetensors"), "--json", sites=(toy_site,), check=True)
    meta = json.loads(info.stdout)
    for key in (
        "format_version",
        "model",
        "plugin",
        "plugin_version",
        "config",
        "recipe",
        "epoch",
        "metrics",
        "seed",
        "torch_version",
        "zoo_version",
    ):
        assert key in meta, key
    assert meta["model"] == "toy.mlp" and meta["epoch"] == 3 and meta["seed"] == 5
    predicted = json.loads(
        zoo_cli("predict", str(run / "best.safetensors"), "0,3", "--json", sites=(toy_site,), check=True).stdout
    )
    assert predicted[0]["input"] == "0,3" and len(predicted[0]["output"]) == 3
    runs = json.loads(zoo_cli("runs", str(tmp_path), "--json", sites=(toy_site,), check=True).stdout)
    assert runs[0]["model"] == "toy.mlp" and runs[0]["epochs"] == 3


def test_library_api(toy_site: Path, tmp_path: Path, monkeypatch: object) -> None:
    code = (
        "import zoo\n"
        "print([s.full_name for s in zoo.list_models('toy.l*')])\n"
        "m = zoo.create('toy.line', features=3)\n"
        "print(m.in_features)\n"
        f"run = zoo.train('toy.line', out={str(tmp_path / 'lib')!r}, epochs=2, quiet=True, lr='0.1')\n"
        "loaded = zoo.load(str(run.run_dir / 'best.safetensors'))\n"
        "print(loaded.spec.full_name, loaded.metadata['epoch'], len(run.history))\n"
        "print(any(d.name == 'cpu' for d in zoo.devices()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(toy_site), "ZOO_LOAD_PLUGINS": "toy"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "['toy.line']" and lines[1] == "3"
    assert lines[-2].startswith("toy.line") and lines[-2].endswith(" 2") and lines[-1] == "True"


def test_resume_equals_uninterrupted(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    common = ("--seed", "3", "--deterministic", "--quiet")
    full, part = tmp_path / "full", tmp_path / "part"
    zoo_cli("train", "toy.mlp", "--out", str(full), "--epochs", "4", *common, sites=(toy_site,), check=True)
    zoo_cli("train", "toy.mlp", "--out", str(part), "--epochs", "2", *common, sites=(toy_site,), check=True)
    assert not _same(full / "last.safetensors", part / "last.safetensors")
    zoo_cli("train", "toy.mlp", "--resume", str(part), "--epochs", "4", "--quiet", sites=(toy_site,), check=True)
    assert _same(full / "last.safetensors", part / "last.safetensors")
    rows = [json.loads(x) for x in (part / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    again = zoo_cli("train", "toy.mlp", "--out", str(part), sites=(toy_site,))
    assert again.returncode == 2 and "--resume" in again.stderr
    changed = zoo_cli("train", "toy.mlp", "--resume", str(part), "--lr", "0.5", sites=(toy_site,))
    assert changed.returncode == 2 and "cannot change --lr" in changed.stderr
    scheduled = tmp_path / "scheduled"
    zoo_cli(
        "train",
        "toy.mlp",
        "--out",
        str(scheduled),
        "--epochs",
        "1",
        "--schedule",
        "cosine",
        "--quiet",
        sites=(toy_site,),
        check=True,
    )
    grow = zoo_cli("train", "toy.mlp", "--resume", str(scheduled), "--epochs", "3", sites=(toy_site,))
    assert grow.returncode == 2 and "schedule 'cosine'" in grow.stderr


def test_ctrl_c_saves_and_resumes_exactly(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    args = [
        "toy.line",
        "--epochs",
        "4",
        "--batch-size",
        "8",
        "--samples",
        "20000",
        "--seed",
        "1",
        "--schedule",
        "cosine",
        "--optimizer",
        "sgd",
        "--momentum",
        "0.9",
        "--lr",
        "0.01",
    ]
    full, cut = tmp_path / "full", tmp_path / "cut"
    zoo_cli("train", *args, "--out", str(full), sites=(toy_site,), check=True)
    env = {**os.environ, "PYTHONPATH": str(toy_site), "ZOO_LOAD_PLUGINS": "toy", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", "train", *args, "--out", str(cut)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("epoch 1/4"):
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr
    meta = json.loads(zoo_cli("info", str(cut / "last.safetensors"), "--json", sites=(toy_site,), check=True).stdout)
    assert meta["resumable"] is True and int(meta["epoch"]) < 4
    zoo_cli("train", "toy.line", "--resume", str(cut), "--quiet", sites=(toy_site,), check=True)
    assert len((cut / "metrics.jsonl").read_text().splitlines()) == 4
    assert _same(full / "last.safetensors", cut / "last.safetensors")


def test_nan_loss_stops_and_keeps_last_good(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    run = tmp_path / "nan"
    result = zoo_cli(
        "train", "toy.line", "--recipe", "fast", "--lr", "1e12", "--epochs", "20", "--out", str(run), sites=(toy_site,)
    )
    assert result.returncode == 1
    assert "diverged" in result.stderr and "Traceback" not in result.stderr
    ok = zoo_cli("eval", str(run / "best.safetensors"), "--json", sites=(toy_site,), check=True)
    assert "loss" in json.loads(ok.stdout)


def test_bad_hyperparameters_are_usage_errors(zoo_cli: Runner, toy_site: Path) -> None:
    cases = [
        (("--optimizer", "lbfgs"), "unknown optimizer"),
        (("--schedule", "linear"), "unknown schedule"),
        (("--lrr", "3"), "did you mean --lr"),
        (("--samples", "many"), "--samples expects int"),
        (("--precision", "fp8"), "unknown precision"),
        (("--device", "cuda:3"), "device"),
        (("--recipe", "slow"), "no recipe 'slow'"),
        (("--method", "magic"), "no fitting method"),
    ]
    for args, expected in cases:
        result = zoo_cli("train", "toy.line", "--quiet", *args, sites=(toy_site,))
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
