"""Epoch-end callbacks: ``zoo.train(..., callbacks=[...])``, ``zoo train --early-stop``, outcome.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from zoo_testkit import Runner, write_plugin

# A model whose data may have no validation split (holdout 0), for the refusal.
SMALL_PLUGIN = """
from zoo import DatasetSpec, ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("dots", "a few dots", "smallplug.impl:load", options={"holdout": 1}))

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("net", "2-class net", "multiclass", "smallplug.impl:build", "small.dots",
                       recipes=(Recipe("default", "sgd", {"epochs": 3, "batch_size": 0, "lr": 0.1}),)))
"""
SMALL_IMPL = """
import torch
from torch import nn
from zoo.contracts.data import DataBundle, TensorSplit

def build():
    return nn.Linear(2, 2)

def load(request):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(12, 2, generator=g)
    y = (x[:, 0] > 0).long()
    val = TensorSplit(x[8:], y[8:]) if request.options["holdout"] else None
    return DataBundle(TensorSplit(x[:8], y[:8]), val, num_classes=2)
"""

STOPPER = """
import json, sys
from zoo.training.callbacks import Callback
from zoo.training.trainer import train

class StopAtTwo(Callback):
    def __init__(self):
        self.seen = []
    def on_epoch_end(self, end):
        self.seen.append({"epoch": end.epoch, "epochs": end.epochs, "monitor": end.monitor, "mode": end.mode,
                          "keys": sorted(end.metrics), "run_dir": str(end.run_dir)})
        if end.epoch == 2:
            end.stop("enough for a test", status="pruned")

cb = StopAtTwo()
run = train("toy.mlp", epochs=6, out=sys.argv[1], device="cpu", quiet=True, callbacks=[cb])
print(json.dumps({"status": run.status, "reason": run.stop_reason, "epochs": len(run.history), "seen": cb.seen}))
"""


def _python(code: str, *args: str, site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(PYTHONPATH=str(site), ZOO_LOAD_PLUGINS="toy", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def _last_epoch(path: Path) -> int:
    from zoo.files.checkpoint import read_checkpoint

    _, meta = read_checkpoint(path)
    return int(meta["epoch"])


def test_a_callback_sees_each_epoch_and_its_stop_ends_the_run_normally(toy_site: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = _python(STOPPER, str(run_dir), site=toy_site, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "pruned"
    assert summary["reason"] == "enough for a test"
    assert summary["epochs"] == 2
    first = summary["seen"][0]
    assert (first["epoch"], first["epochs"], first["monitor"], first["mode"]) == (1, 6, "val_accuracy", "max")
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(first["keys"])
    assert first["run_dir"] == str(run_dir)
    outcome = json.loads((run_dir / "outcome.json").read_text())
    assert outcome == {"status": "pruned", "reason": "enough for a test", "epochs_done": 2}
    assert _last_epoch(run_dir / "last.safetensors") == 2
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2


def test_early_stop_stops_says_why_and_resume_continues(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # lr 1e-9: the validation accuracy never improves on epoch 1's, so patience 2 stops after epoch 3.
    args = ("train", "toy.mlp", "--epochs", "8", "--lr", "1e-9", "--device", "cpu", "--out", str(run_dir))
    stopped = zoo_cli(*args, "--early-stop", "2", sites=(toy_site,), check=True)
    assert "stopped after epoch 3: val_accuracy has not improved for 2 epochs (best" in stopped.stdout
    assert f"to train on: zoo train toy.mlp --resume {run_dir} --early-stop 0" in stopped.stdout
    assert "epoch 4/8" not in stopped.stdout
    assert json.loads((run_dir / "outcome.json").read_text())["status"] == "stopped"
    assert json.loads((run_dir / "config.json").read_text())["early_stop"] == 2
    assert _last_epoch(run_dir / "last.safetensors") == 3
    resume = ("train", "toy.mlp", "--resume", str(run_dir), "--json")
    resumed = zoo_cli(*resume, "--early-stop", "0", sites=(toy_site,), check=True)
    assert json.loads(resumed.stdout)["epochs"] == 8
    assert json.loads((run_dir / "outcome.json").read_text()) == {
        "status": "finished",
        "reason": None,
        "epochs_done": 8,
    }


def test_a_resumed_run_keeps_its_early_stopping_and_counts_from_its_best_epoch(
    zoo_cli: Runner, toy_site: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    # lr 1e-9: epoch 1 stays the best. Two epochs with patience 2 end normally (one epoch waited)...
    args = ("train", "toy.mlp", "--epochs", "2", "--lr", "1e-9", "--device", "cpu", "--out", str(run_dir))
    zoo_cli(*args, "--early-stop", "2", sites=(toy_site,), check=True)
    assert json.loads((run_dir / "outcome.json").read_text())["status"] == "finished"
    # ...and the resumed run, told nothing of early stopping, stops after epoch 3, not 5.
    resumed = zoo_cli("train", "toy.mlp", "--resume", str(run_dir), "--epochs", "8", sites=(toy_site,), check=True)
    assert "stopped after epoch 3: val_accuracy has not improved for 2 epochs" in resumed.stdout
    assert "at epoch 1)" in resumed.stdout
    assert json.loads((run_dir / "outcome.json").read_text())["epochs_done"] == 3


def test_a_finished_run_records_its_outcome_and_json_is_unchanged(zoo_cli: Runner, toy_site: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    result = zoo_cli(
        "train", "toy.mlp", "--epochs", "2", "--out", str(run_dir), "--json", sites=(toy_site,), check=True
    )
    assert set(json.loads(result.stdout)) == {"run_dir", "model", "epochs", "best", "last", "seconds", "warnings"}
    assert json.loads((run_dir / "outcome.json").read_text()) == {
        "status": "finished",
        "reason": None,
        "epochs_done": 2,
    }


@pytest.mark.parametrize("patience", ["-1", "x", "1.5"])
def test_early_stop_needs_a_whole_patience(zoo_cli: Runner, toy_site: Path, patience: str) -> None:
    result = zoo_cli("train", "toy.mlp", "--early-stop", patience, sites=(toy_site,))
    assert result.returncode == 2
    assert "--early-stop" in result.stderr
    assert "Traceback" not in result.stderr


def test_early_stop_without_validation_data_is_refused(zoo_cli: Runner, tmp_path: Path) -> None:
    files = {"__init__.py": SMALL_PLUGIN, "impl.py": SMALL_IMPL}
    site = write_plugin(tmp_path / "site", "small-plugin", "smallplug", files, {"small": "smallplug"})
    env = {"ZOO_LOAD_PLUGINS": "small"}
    fine = zoo_cli("train", "small.net", "--early-stop", "1", "--out", str(tmp_path / "a"), sites=(site,), env=env)
    assert fine.returncode == 0, fine.stdout + fine.stderr
    refused = zoo_cli(
        "train",
        "small.net",
        "--holdout",
        "0",
        "--early-stop",
        "1",
        "--out",
        str(tmp_path / "b"),
        sites=(site,),
        env=env,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "EarlyStopping judges validation metrics, but small.net's data has no validation split" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "b").exists()


def test_early_stopping_rules() -> None:
    from zoo.errors import UsageError
    from zoo.training.callbacks import EarlyStopping, EpochEnd

    def feed(stopper: EarlyStopping, values: list[float], mode: str = "max") -> int | None:
        for epoch, value in enumerate(values, start=1):
            end = EpochEnd(epoch, 100, {"val_m": value}, "val_m", mode, Path("."))
            stopper.on_epoch_end(end)
            if end.stop_request:
                return epoch
        return None

    assert feed(EarlyStopping(2), [0.1, 0.2, 0.2, 0.3, 0.3, 0.25]) == 6
    assert feed(EarlyStopping(1), [0.5, 0.4], mode="min") is None
    assert feed(EarlyStopping(1), [0.5, 0.6], mode="min") == 2
    assert feed(EarlyStopping(1, min_delta=0.1), [0.5, 0.55]) == 2
    for bad in (0, -1, True, 1.5):
        with pytest.raises(UsageError):
            EarlyStopping(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EpochEnd(1, 2, {}, "val_m", "max", Path(".")).stop("why", status="finished")


def test_ranks_agree_on_a_stop_under_torchrun(toy_site: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(PYTHONPATH=str(toy_site), ZOO_LOAD_PLUGINS="toy", OMP_NUM_THREADS="1")
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"),
        *("-m", "zoo", "train", "toy.mlp", "--epochs", "8", "--lr", "1e-9", "--device", "cpu"),
        *("--early-stop", "1", "--out", str(tmp_path / "ddp")),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("stopped after epoch 2") == 1  # rank 0 alone prints
    outcome = json.loads((tmp_path / "ddp" / "outcome.json").read_text())
    assert (outcome["status"], outcome["epochs_done"]) == ("stopped", 2)
