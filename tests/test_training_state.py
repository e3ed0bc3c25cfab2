"""One owner of training state: a plan is frozen once made, and how a run ended is its progress state.

In-process: a module registered the way ``zoo.fit`` does it, planned with ``make_plan`` and
run by a ``Trainer``, so every assertion reads the real objects.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from zoo.training.callbacks import Callback, EpochEnd
from zoo.training.distributed import DistEnv
from zoo.training.fitrun import prepare
from zoo.training.plan import Plan, make_plan
from zoo.training.runconfig import RunOptions
from zoo.training.trainer import Trainer, train


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_NO_PLOTS", "1")  # drawing the curves is not what these tests are about


def _model(name: str) -> str:
    """Register a small classifier on 60 rows (8 batches of 8 an epoch, no held-out split)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=g)
    y = (x[:, 0] > 0).long()
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    full, _ = prepare(module, (x, y), None, "multiclass", None, None, None, name, {})
    return full


def _plan(name: str, out: Path | None = None, **overrides: object) -> Plan:
    options = RunOptions(device="cpu", quiet=True, out=None if out is None else str(out))
    return make_plan(name, options, DistEnv(), batch_size=8, **overrides)


class StopAt(Callback):
    """Stops the run after ``epoch`` with status ``pruned``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, end: EpochEnd) -> None:
        if end.epoch == self.epoch:
            end.stop("enough for a test", status="pruned")


def test_a_made_plan_cannot_be_changed(tmp_path: Path) -> None:
    plan = _plan(_model("frozen"), tmp_path / "run", epochs=2)
    for field, value in (("hparams", plan.hparams.replace(epochs=9)), ("run_dir", tmp_path), ("epochs_note", "x")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(plan, field, value)
    assert plan.hparams.epochs == 2 and plan.run_dir == tmp_path / "run"


def test_min_steps_is_decided_by_planning_into_a_new_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = _model("minsteps")
    recipe = _plan(name).hparams.epochs
    plan = _plan(name, min_steps=8 * (recipe + 2))  # 8 steps an epoch: two epochs more than the recipe's
    raised = plan.for_data(steps_per_epoch=8, samples=60, optimizer_free=False)
    assert raised is not plan and raised.hparams.epochs == recipe + 2 and raised.epochs_note
    assert plan.hparams.epochs == recipe and plan.epochs_note is None  # the plan as made is untouched
    assert plan.for_data(8, 60, optimizer_free=True) is plan
    given = _plan(name, min_steps=8 * (recipe + 2), epochs=recipe)  # --epochs given: the user's
    assert given.for_data(8, 60, optimizer_free=False) is given
    # A run takes the raised epochs, writes its fresh folder, and leaves the plan it was given as it was.
    trainer = Trainer(plan, DistEnv())
    trainer.setup()
    history = trainer.fit()
    assert len(history) == recipe + 2 == trainer.plan.hparams.epochs
    assert plan.hparams.epochs == recipe and plan.run_dir is None
    assert trainer.folder.path.parent == Path("runs") / name
    assert json.loads((trainer.folder.path / "config.json").read_text())["epochs_note"] == raised.epochs_note


def test_run_status_and_stop_reason_are_read_from_the_progress_state(tmp_path: Path) -> None:
    plan = _plan(_model("stopping"), tmp_path / "run", epochs=6)
    trainer = Trainer(plan, DistEnv(), callbacks=[StopAt(2)])
    trainer.setup()
    assert (trainer.progress.status, trainer.progress.stop_reason) == ("finished", None)
    history = trainer.fit()
    state = trainer.progress
    assert len(history) == 2 == state.epochs_done
    assert (state.status, state.stop_reason) == ("pruned", "enough for a test")
    assert not hasattr(trainer, "status") and not hasattr(trainer, "stop_reason")  # one home: the progress
    outcome = json.loads((tmp_path / "run" / "outcome.json").read_text())
    assert outcome == {"status": "pruned", "reason": "enough for a test", "epochs_done": 2}
    # zoo.train's Run reports the same state.
    run = train("fit.stopping", epochs=6, batch_size=8, out=tmp_path / "again", device="cpu", callbacks=[StopAt(3)])
    assert (run.status, run.stop_reason, len(run.history)) == ("pruned", "enough for a test", 3)


def test_save_points_hand_the_save_time_back_to_the_owner(tmp_path: Path) -> None:
    trainer = Trainer(_plan(_model("saving"), tmp_path / "run", epochs=1), DistEnv())
    trainer.setup()
    trainer.fit()
    state = trainer.progress
    before = dataclasses.asdict(state)
    saved_at = trainer.saves.save(state, durable=False)
    assert dataclasses.asdict(state) == before  # the progress is the trainer's to change
    assert saved_at >= state.last_save and (tmp_path / "run" / "last.safetensors").exists()
