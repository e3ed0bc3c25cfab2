"""zoo tune's default pruner: stops a trial only when it trails finished trials at the same share of its schedule.

Trials report at "per-mille of the schedule" steps (epoch 3 of 10 is step 300), so a
10-epoch and a 20-epoch trial are compared at equal fractions of their schedules, not at
equal epoch numbers (under one-cycle or cosine schedules, epoch 1 of a long run predicts
nothing). No trial is judged before the first stage's share of its schedule (the warm-up),
nor before ``startup`` trials have finished; from each stage's share on, a trial is pruned
when even its best value so far is worse than that stage's percentile of the finished
trials' best values up to the same fraction. The defaults are the ones
``benchmarks/tune_pruning.py`` chose by rerunning every pruned trial to the end: one stage
at 30 % keeping the trials among the best 40 % of the finished ones, which saved over 30 %
of the trial-epochs with no pruned trial that would have beaten its study's best, on
sampler seeds 0-4; the median rule kept more trials and saved about a quarter, and
earlier warm-ups had lost diabetes winners.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: Steps per schedule: a trial reports epoch e of E as step round(STEPS * e / E).
STEPS = 1000
#: (share of the schedule, percentile): from that share on, a trial is pruned when its best value so far is worse
#: than this percentile of the finished trials' at the same share, counted from the best (50: the median; 40: a trial
#: goes on only among the best 40 %; 100: only a trial behind every finished one is pruned).
STAGES: tuple[tuple[float, float], ...] = ((0.3, 40.0),)
#: The earlier default, ``--pruner median``: past the same warm-up, below the median.
MEDIAN: tuple[tuple[float, float], ...] = ((0.3, 50.0),)
#: No trial is judged before this share of its epochs.
WARMUP = min(share for share, _ in STAGES)
#: Finished trials needed before any trial is judged.
STARTUP = 3


def schedule_step(epoch: int, epochs: int) -> int:
    """Epoch ``epoch`` (1-based) of ``epochs`` as a step on the common per-mille scale."""
    return round(STEPS * epoch / max(epochs, epoch, 1))


def make_pruner(stages: Sequence[tuple[float, float]] = STAGES, startup: int = STARTUP) -> Any:
    """An Optuna pruner comparing trials at equal shares of their schedules (see the module's docstring)."""
    import optuna

    rules = tuple(sorted(stages))

    class SchedulePruner(optuna.pruners.BasePruner):
        def prune(self, study: Any, trial: Any) -> bool:
            return should_prune(study, trial, rules, startup)

    return SchedulePruner()


def stage_percentile(stages: Sequence[tuple[float, float]], step: int) -> float | None:
    """The percentile that applies at ``step``: the last stage begun by then; None before the first."""
    begun = [percentile for share, percentile in sorted(stages) if step >= share * STEPS]
    return begun[-1] if begun else None


def should_prune(study: Any, trial: Any, stages: Sequence[tuple[float, float]], startup: int) -> bool:
    """Whether ``trial`` trails the finished trials at its share of the schedule, by the stage it is in."""
    from optuna.trial import TrialState

    step = trial.last_step
    percentile = None if step is None else stage_percentile(stages, step)
    if step is None or percentile is None:
        return False
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(finished) < max(startup, 1):
        return False
    maximize = study.direction.name == "MAXIMIZE"
    mine = best_until(trial.intermediate_values, step, maximize)
    if mine is None:
        return False
    if math.isnan(mine):
        return True
    others = [v for v in (best_until(t.intermediate_values, step, maximize) for t in finished) if v is not None]
    others = [v for v in others if not math.isnan(v)]
    if len(others) < max(startup, 1):
        return False
    bar = _percentile(sorted(others, reverse=maximize), percentile)
    return mine < bar if maximize else mine > bar


def best_until(values: dict[int, float], step: int, maximize: bool) -> float | None:
    """The best value reported up to ``step``; None when nothing was."""
    seen = [v for s, v in values.items() if s <= step]
    if not seen:
        return None
    if any(math.isnan(v) for v in seen) and all(math.isnan(v) for v in seen):
        return math.nan
    seen = [v for v in seen if not math.isnan(v)]
    return max(seen) if maximize else min(seen)


def _percentile(best_first: list[float], share: float) -> float:
    """The value ``share`` % of the way down a best-first list (linear between neighbours)."""
    position = (len(best_first) - 1) * min(max(share, 0.0), 100.0) / 100.0
    low = math.floor(position)
    high = min(low + 1, len(best_first) - 1)
    return best_first[low] + (best_first[high] - best_first[low]) * (position - low)
