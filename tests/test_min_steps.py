"""A recipe's ``min_steps``: on small data the trainer raises the epochs to take that many
optimizer steps, says so in one line and in config.json; large data, an explicit --epochs
and a resumed run keep their epochs.

toy.mlp trains on 60 blobs at batch 8: 8 steps an epoch, 3 epochs in its recipe.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo_testkit import Runner

from zoo.contracts.spec import BASE_HPARAMS
from zoo.errors import UsageError
from zoo.training.hparams import MAX_COUNT, SMALL_DATA_PASSES, HParams, raise_limit, reach_min_steps

NOTE = "epochs: 3 -> 5 to reach the recipe's 40 optimizer steps (min_steps) on 60 samples at 8 steps an epoch"


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _config(run: Path) -> dict[str, Any]:
    return json.loads((run / "config.json").read_text())


def test_small_data_raises_the_epochs_and_says_so(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ("train", "toy.mlp", "--min-steps", "40", "--schedule", "cosine", "--out", str(run))
    proc = zoo_cli(*args, "--device", "cpu", sites=(toy_site,), check=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("epochs: ")]
    assert lines == [NOTE + "; --epochs N sets them yourself"]
    assert "5 epochs, batch 8" in proc.stdout  # the header names the epochs the run takes
    records = _records(run)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5] and records[-1]["step"] == 40
    # The schedule was laid out for the raised length: cosine ends at zero on the last step.
    assert records[-1]["lr"] < 1e-9 < records[-2]["lr"]
    config = _config(run)
    assert config["epochs_note"].startswith(NOTE)
    assert config["hparams"]["epochs"] == 5 and config["hparams"]["min_steps"] == 40


def test_large_data_and_an_explicit_epochs_keep_the_recipe(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    # 300 blobs: 200 to train on, 25 steps an epoch, 75 in three epochs: past 40 already.
    large = tmp_path / "large"
    args = ("train", "toy.mlp", "--min-steps", "40", "--samples", "300", "--out", str(large), "--device", "cpu")
    proc = zoo_cli(*args, sites=(toy_site,), check=True)
    assert "min_steps" not in proc.stdout and "3 epochs" in proc.stdout
    assert len(_records(large)) == 3 and "epochs_note" not in _config(large)
    given_epochs = tmp_path / "given"
    args = ("train", "toy.mlp", "--min-steps", "40", "--epochs", "2", "--out", str(given_epochs), "--device", "cpu")
    proc = zoo_cli(*args, sites=(toy_site,), check=True)
    assert "min_steps" not in proc.stdout
    assert [r["step"] for r in _records(given_epochs)] == [8, 16] and "epochs_note" not in _config(given_epochs)


def test_a_resumed_run_keeps_the_decided_epochs(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ("train", "toy.mlp", "--method", "interrupt", "--min-steps", "40", "--out", str(run), "--device", "cpu")
    stopped = zoo_cli(*args, sites=(toy_site,), env={"TOY_SIGINT": "2:3:1"})  # Ctrl-C in epoch 2 of 5
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert NOTE in stopped.stdout
    resumed = zoo_cli("train", "toy.mlp", "--resume", str(run), "--device", "cpu", sites=(toy_site,), check=True)
    assert NOTE in resumed.stdout and "5 epochs" in resumed.stdout
    records = _records(run)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5] and records[-1]["step"] == 40
    assert _config(run)["epochs_note"].startswith(NOTE)


def _hparams(epochs: int, min_steps: int) -> HParams:
    return HParams.from_dict({**BASE_HPARAMS, "epochs": epochs, "min_steps": min_steps})


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**6), st.integers(0, 10**7), st.integers(1, 10**4), st.integers(1, 10**6))
def test_raised_epochs_are_the_fewest_that_reach_min_steps(epochs: int, min_steps: int, steps: int, n: int) -> None:
    h = _hparams(epochs, min_steps)
    raised, note = reach_min_steps(h, steps, n)
    assert raised.epochs >= epochs and raised.as_dict() == {**h.as_dict(), "epochs": raised.epochs}
    # the fewest epochs that reach min_steps, but never raised past the small-data limit
    limit = raise_limit(n)
    assert raised.epochs * steps >= min_steps or raised.epochs in (MAX_COUNT, max(epochs, limit))
    assert raised.epochs == epochs or raised.epochs <= limit
    if raised.epochs > epochs:
        assert (raised.epochs - 1) * steps < min_steps  # no epoch more than needed
        assert ("stopped at" in str(note)) == (raised.epochs * steps < min_steps)
        assert note is not None and "\n" not in note and f"{epochs} -> {raised.epochs}" in note
        assert f"{min_steps:,} optimizer steps" in note and f"{n:,} samples" in note
    else:
        assert note is None and raised == h


def test_checkpoints_without_min_steps_still_resume_and_bad_values_are_refused() -> None:
    old = {k: v for k, v in BASE_HPARAMS.items() if k != "min_steps"}
    assert HParams.from_dict(old).min_steps == 0
    for bad in (-1, 1.5, "many", True):
        with pytest.raises(UsageError, match="--min-steps"):
            HParams.from_dict({**BASE_HPARAMS, "min_steps": bad})
    assert reach_min_steps(_hparams(3, 0), 1, 10) == (_hparams(3, 0), None)
    assert math.ceil(1200 / 160) == reach_min_steps(_hparams(6, 1200), 160, 40000)[0].epochs


def test_small_data_stops_at_twenty_passes_or_twenty_thousand_samples() -> None:
    # 1,000 pictures at batch 256: 4 steps an epoch; 800 steps would be 200 passes
    raised, note = reach_min_steps(_hparams(4, 800), 4, 1000)
    assert raised.epochs == SMALL_DATA_PASSES == 20
    assert note is not None and "4 -> 20 toward" in note and "stopped at 20 passes over small data" in note
    # 500 pictures: 40 passes are 20,000 samples, as long as 1,000 pictures take
    assert reach_min_steps(_hparams(4, 800), 2, 500)[0].epochs == 40
    # 10,000 pictures: 40 steps an epoch reach 800 steps in 20 epochs, as before
    assert reach_min_steps(_hparams(4, 800), 40, 10000)[0].epochs == 20
    # a 120-row table at batch 32 still takes the 100 cheap passes its 400 steps need
    assert reach_min_steps(_hparams(40, 400), 4, 120)[0].epochs == 100
