"""zoo tune's defaults: the pruner that keeps winners, and options fixed on the command line.

The pruner is exercised on real Optuna studies (in memory) with trials of known curves;
the fixed options through the installed CLI on a toy model whose recipe declares a space.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from zoo_testkit import SPACED_PLUGIN, Runner, write_plugin

optuna = pytest.importorskip("optuna")

from zoo.tuning.pruning import (  # noqa: E402
    MEDIAN,
    STEPS,
    WARMUP,
    make_pruner,
    schedule_step,
    stage_percentile,
)


def _study(curves: list[tuple[int, list[float]]], pruner: Any = None) -> Any:
    """A maximizing in-memory study with the default pruner, holding finished trials of these (epochs, curve)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", pruner=pruner or make_pruner())
    for epochs, curve in curves:
        values = {schedule_step(e, epochs): v for e, v in enumerate(curve, start=1)}
        study.add_trial(optuna.trial.create_trial(value=max(curve), intermediate_values=values))
    return study


def _pruned_at(study: Any, epochs: int, curve: list[float]) -> int | None:
    """The epoch at which the pruner stops a new trial with this curve, or None."""
    trial = study.ask()
    for epoch, value in enumerate(curve, start=1):
        trial.report(value, schedule_step(epoch, epochs))
        if epoch < epochs and trial.should_prune():  # as the trials' reporter asks: a finished run is kept
            return epoch
    return None


GOOD = [0.5, 0.7, 0.8, 0.85, 0.9, 0.92, 0.93, 0.94, 0.95, 0.96]


def test_no_trial_is_pruned_before_the_warm_up_share_of_its_epochs() -> None:
    study = _study([(10, GOOD)] * 6)
    hopeless = [0.1] * 10
    stopped = _pruned_at(study, 10, hopeless)
    assert stopped is not None and stopped / 10 >= WARMUP
    assert schedule_step(stopped - 1, 10) < WARMUP * STEPS  # ...and at the first epoch past it


def test_it_waits_for_finished_trials() -> None:
    assert _pruned_at(_study([(10, GOOD)] * 2), 10, [0.1] * 10) is None  # too few finished trials to judge
    assert _pruned_at(_study([(10, GOOD)] * 3), 10, [0.1] * 10) is not None


def test_a_slow_starter_within_the_pack_is_kept() -> None:
    # One-cycle-like: low at first, then among the best. Judged at equal shares, it is never behind the
    # bottom quarter of the finished trials, so it runs to the end.
    pack = [(10, [0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.82, 0.84, 0.85, 0.86]) for _ in range(3)] + [(10, GOOD)]
    late = [0.2, 0.45, 0.6, 0.72, 0.8, 0.9, 0.95, 0.96, 0.97, 0.98]
    assert _pruned_at(_study(pack), 10, late) is None


def test_past_the_warm_up_only_trials_among_the_best_finished_ones_continue() -> None:
    # Five finished trials, flat at 0.9 ... 0.5: the best 40 % reach 0.74 (0.8 - 0.6 x 0.1) or more.
    study = _study([(10, [v] * 10) for v in (0.9, 0.8, 0.7, 0.6, 0.5)])
    first_judged = next(e for e in range(1, 11) if schedule_step(e, 10) >= WARMUP * STEPS)
    assert _pruned_at(study, 10, [0.72] * 10) == first_judged  # above the median, outside the best 40 %
    assert _pruned_at(study, 10, [0.75] * 10) is None
    # --pruner median: the same warm-up and trials, the median as the bar
    median = _study([(10, [v] * 10) for v in (0.9, 0.8, 0.7, 0.6, 0.5)], make_pruner(stages=MEDIAN))
    assert _pruned_at(median, 10, [0.72] * 10) is None
    assert _pruned_at(median, 10, [0.68] * 10) == first_judged


def test_an_early_stage_stops_only_trials_behind_every_finished_one() -> None:
    pruner = make_pruner(stages=((0.1, 100.0), (0.3, 50.0)))
    slow = [0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.82, 0.84, 0.85, 0.86]
    study = _study([(10, GOOD), (10, GOOD), (10, slow)], pruner)
    assert _pruned_at(study, 10, [0.2] * 10) == 1  # behind all three at 10 %
    assert _pruned_at(study, 10, [0.6] * 10) == 3  # ahead of the slow one until 30 %, then behind the median
    assert stage_percentile(((0.1, 100.0), (0.3, 50.0)), 99) is None
    assert stage_percentile(((0.3, 50.0), (0.1, 100.0)), 300) == 50.0


def test_schedules_of_different_lengths_are_compared_at_equal_shares() -> None:
    # Finished 20-epoch trials that climb slowly: 0.38 at 40 % of their schedule (epoch 8).
    long = [0.1 + 0.04 * e for e in range(20)]
    study = _study([(20, long)] * 4)
    # A 5-epoch trial at epoch 2 (40 %) is compared with the long ones at their epoch 8, not 2:
    short_behind = [0.2, 0.3, 0.35, 0.4, 0.45]
    assert _pruned_at(study, 5, short_behind) == 2
    short_level = [0.3, 0.42, 0.56, 0.72, 0.8]
    assert _pruned_at(study, 5, short_level) is None
    # Epoch-numbered steps would have kept the first (0.3 at epoch 2 beats 0.14) and never compared the second.
    assert schedule_step(2, 5) == schedule_step(8, 20) == 400


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "trials.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_an_option_fixed_on_the_command_line_leaves_the_declared_space(
    zoo_cli: Runner, toy_site: Path, tmp_path: Path
) -> None:
    write_plugin(toy_site, "spaced-plugin", "spacedplug", {"__init__.py": SPACED_PLUGIN}, {"spaced": "spacedplug"})
    env = {"ZOO_LOAD_PLUGINS": "toy,spaced"}
    out = tmp_path / "fixed"
    args = ("tune", "spaced.mlp", "--trials", "2", "--hidden", "16", "--out", str(out))
    result = zoo_cli(*args, env=env, sites=(toy_site,))
    assert result.returncode == 0, result.stderr
    assert "hidden is not searched: --hidden 16 is fixed for every trial" in result.stderr
    rows = _rows(out)
    assert len(rows) == 2 and "hidden" not in rows[0] and "lr" in rows[0]
    for row in rows:
        config = json.loads((out / f"trial-{int(row['number']):04d}" / "config.json").read_text())
        assert config["config"]["hidden"] == 16

    # Named in the user's own --space too: one error, with what to drop
    both = zoo_cli(*args[:-2], "--space", "hidden=4,8", "--out", str(tmp_path / "both"), env=env, sites=(toy_site,))
    assert both.returncode == 2 and "Traceback" not in both.stderr
    assert "--hidden is fixed on the command line and searched too" in both.stderr
    assert "hint: drop --hidden 16 to search it, or drop --space hidden=... to fix it" in both.stderr

    # Every declared key fixed: nothing is left to search
    every = zoo_cli(
        "tune", "spaced.mlp", "--hidden", "8", "--lr", "0.1", "--out", str(tmp_path / "all"), env=env,
        sites=(toy_site,),
    )  # fmt: skip
    assert every.returncode == 2 and "every key of spaced.mlp's search space (lr, hidden) is fixed" in every.stderr
