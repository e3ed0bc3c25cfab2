"""The training engine through the real CLI: run folder, eval, predict, resume, Ctrl-C, NaN."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

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
    assert not (run / "curves.png").exists()  # ZOO_NO_PLOTS=1 (conftest): no drawing was started
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


def _info(zoo_cli: Runner, site: Path, checkpoint: Path) -> dict[str, Any]:
    result = zoo_cli("info", str(checkpoint), "--json", sites=(site,), check=True)
    return cast(dict[str, Any], json.loads(result.stdout))


def _epochs(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


# toy.mlp with 200 training samples in batches of 8: 25 steps per epoch. The "interrupt"
# method is plain autograd that sends itself Ctrl-C right after a chosen batch.
_INTERRUPTIBLE = (
    "toy.mlp", "--method", "interrupt", "--samples", "300", "--batch-size", "8", "--epochs", "3",
    "--seed", "1", "--schedule", "cosine",
)  # fmt: skip


def test_ctrl_c_mid_epoch_saves_and_resumes_exactly(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    zoo_cli("train", *_INTERRUPTIBLE, "--out", str(full), sites=(toy_site,), check=True)
    # Ctrl-C right after batch 5 (the sixth) of epoch 2.
    stopped = zoo_cli("train", *_INTERRUPTIBLE, "--out", str(cut), sites=(toy_site,), env={"TOY_SIGINT": "2:5:1"})
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "interrupted during epoch 2" in stopped.stderr and "--resume" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    meta = _info(zoo_cli, toy_site, cut / "last.safetensors")
    assert meta["resumable"] is True
    assert int(meta["epoch"]) == 1 and int(meta["step_in_epoch"]) == 6  # mid-epoch, not at a boundary
    assert _epochs(cut) == [1]
    resumed = zoo_cli("train", "toy.mlp", "--resume", str(cut), sites=(toy_site,), check=True)
    assert "epoch 1, step 31" in resumed.stdout  # 25 steps of epoch 1 and 6 of epoch 2
    assert _epochs(cut) == [1, 2, 3]
    assert _same(full / "last.safetensors", cut / "last.safetensors")
    assert _same(full / "best.safetensors", cut / "best.safetensors")


def test_second_ctrl_c_stops_at_once(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    # Two Ctrl-Cs right after batch 5 of epoch 2, before the batch boundary where the first would save.
    every = ("--save-every", "1")  # a save point at the end of epoch 1
    result = zoo_cli(
        "train", *_INTERRUPTIBLE, *every, "--out", str(run), sites=(toy_site,), env={"TOY_SIGINT": "2:5:2"}
    )
    assert result.returncode == 130, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "interrupted during epoch" not in result.stderr and "state saved" not in result.stderr
    assert "partial epoch since the last save is lost" in result.stderr
    # Nothing was saved for the interrupted epoch: last.safetensors is still the end of epoch 1.
    meta = _info(zoo_cli, toy_site, run / "last.safetensors")
    assert int(meta["epoch"]) == 1 and int(meta.get("step_in_epoch", 0)) == 0
    assert _epochs(run) == [1]


def test_nan_loss_stops_and_keeps_last_good(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    run = tmp_path / "nan"
    result = zoo_cli(
        "train", "toy.line", "--recipe", "fast", "--lr", "1e12", "--epochs", "20", "--out", str(run), sites=(toy_site,)
    )
    assert result.returncode == 1
    assert "diverged" in result.stderr and "Traceback" not in result.stderr
    found = re.search(r"in epoch (\d+); the run diverged", result.stderr)
    assert found, result.stderr
    bad = int(found.group(1))
    assert bad >= 2, result.stderr  # epoch 1 starts from finite weights
    # What is on disk holds epochs before the bad one, every tensor finite, and the message names it.
    kept = [run / n for n in ("best.safetensors", "last.safetensors") if (run / n).exists()]
    assert kept and all(str(path) in result.stderr for path in kept), result.stderr
    for path in kept:
        assert int(_info(zoo_cli, toy_site, path)["epoch"]) < bad
        for key, tensor in load_file(str(path)).items():
            if tensor.is_floating_point():
                assert bool(torch.isfinite(tensor).all()), (path, key, tensor)
    assert _epochs(run) == list(range(1, bad))  # nothing of the bad epoch was logged
    evaluated = json.loads(zoo_cli("eval", str(kept[0]), "--json", sites=(toy_site,), check=True).stdout)
    assert math.isfinite(evaluated["loss"]) and math.isfinite(evaluated["mse"])


def test_bad_hyperparameters_are_usage_errors(zoo_cli: Runner, toy_site: Path) -> None:
    cases = [
        (("--optimizer", "lbfgs"), "--optimizer must be one of sgd, adam, adamw"),
        (("--schedule", "linear"), "--schedule must be one of none, cosine, onecycle"),
        (("--lrr", "3"), "did you mean --lr"),
        (("--samples", "many"), "--samples expects int"),
        (("--precision", "fp8"), "--precision must be one of fp32, bf16, fp16"),
        (("--device", "cuda:3"), "device"),
        (("--recipe", "slow"), "no recipe 'slow'"),
        (("--method", "magic"), "no fitting method"),
    ]
    for args, expected in cases:
        result = zoo_cli("train", "toy.line", "--quiet", *args, sites=(toy_site,))
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
