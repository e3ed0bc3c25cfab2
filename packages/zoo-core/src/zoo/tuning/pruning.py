"""zoo tune's default pruner: stops a trial only when it trails finished trials at the same share of its schedule.

Trials report at "per-mille of the schedule" steps (epoch 3 of 10 is step 300), so a
10-epoch and a 20-epoch trial are compared at equal fractions of their schedules, not at
equal epoch numbers (under one-cycle or cosine schedules, epoch 1 of a long run predicts
nothing). No trial is judged before ``warmup`` of its schedule, nor before ``startup``
trials have finished; a trial is pruned when even its best value so far is worse than the
``percentile`` of the finished trials' best values up to the same fraction. The defaults
are the ones ``benchmarks/tune_pruning.py`` measured: of the settings it compared, the one
that saved the most trial-epochs (about a quarter) while no pruned trial would have beaten
its study's best; earlier warm-ups saved more and lost diabetes winners.
"""

from __future__ import annotations

import math
from typing import Any

#: Steps per schedule: a trial reports epoch e of E as step round(STEPS * e / E).
STEPS = 1000
#: No trial is judged before this share of its epochs.
WARMUP = 0.3
#: Finished trials needed before any trial is judged.
STARTUP = 3
#: A trial is pruned when its best so far is worse than this share of the finished trials were at the same point
#: (50: worse than the median; 75: in the bottom quarter, so fewer trials are pruned).
PERCENTILE = 50.0


def schedule_step(epoch: int, epochs: int) -> int:
    """Epoch ``epoch`` (1-based) of ``epochs`` as a step on the common per-mille scale."""
    return round(STEPS * epoch / max(epochs, epoch, 1))


def make_pruner(warmup: float = WARMUP, startup: int = STARTUP, percentile: float = PERCENTILE) -> Any:
    """An Optuna pruner comparing trials at equal shares of their schedules (see the module's docstring)."""
    import optuna

    class SchedulePruner(optuna.pruners.BasePruner):
        def prune(self, study: Any, trial: Any) -> bool:
            return should_prune(study, trial, warmup, startup, percentile)

    return SchedulePruner()


def should_prune(study: Any, trial: Any, warmup: float, startup: int, percentile: float) -> bool:
    """Whether ``trial`` trails ``percentile`` of the finished trials at its share of the schedule."""
    from optuna.trial import TrialState

    step = trial.last_step
    if step is None or step < warmup * STEPS:
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
