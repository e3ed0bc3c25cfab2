"""The trials of one process: each a real run by ``zoo.training.trainer.train``, reported to Optuna epoch by epoch.

Each epoch's metric goes to the trial through the trainer's epoch-end callbacks, so the
pruner can stop a hopeless run; the pruned run keeps its folder. A process runs trials
until the study holds enough finished ones, counting those running elsewhere, so
several processes together stop at the study's size, not each at its own.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.errors import TrainingError, UsageError, ZooError
from zoo.tuning import report
from zoo.tuning.pruning import schedule_step
from zoo.tuning.space import Dimension
from zoo.tuning.storage import OWNER, fail_orphans, owner

#: A process stops after this many of its trials failed in a row: the next would fail too.
MAX_FAILED_IN_A_ROW = 3


def trial_folder(folder: Path, number: int) -> Path:
    return folder / f"trial-{number:04d}"


def _epoch_reporter(trial: Any, key: str) -> Any:
    """An epoch-end callback that reports ``key`` to the trial and stops the run when it is pruned.

    The step is the share of the trial's schedule done (``pruning.schedule_step``), not the epoch.
    """
    from zoo.training.callbacks import Callback, EpochEnd

    class ReportToTrial(Callback):
        def on_epoch_end(self, end: EpochEnd) -> None:
            value = end.metrics.get(key)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                return
            trial.report(float(value), schedule_step(end.epoch, end.epochs))  # compared at equal shares of schedule
            if end.epoch < end.epochs and trial.should_prune():  # a run at its end is kept, not pruned
                end.stop(f"pruned at epoch {end.epoch}", status="pruned")

    return ReportToTrial()


def _best_value(history: Sequence[Mapping[str, Any]], key: str, maximize: bool) -> float | None:
    values = [r[key] for r in history if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    if not values:
        return None
    return float(max(values) if maximize else min(values))


class _Surplus(Exception):
    """The study already had its trials when this one started: it runs nothing."""


def _started_before(trial: Any, mine: Any) -> bool:
    if trial.datetime_start is None or mine.datetime_start is None:
        return trial._trial_id < mine._trial_id
    return (trial.datetime_start, trial._trial_id) < (mine.datetime_start, mine._trial_id)


class TrialRunner:
    """One process's share of a study: trials until the study holds enough, or the time is up."""

    def __init__(
        self,
        study: Any,
        name: str,
        folder: Path,
        dims: Sequence[Dimension],
        key: str,
        maximize: bool,
        trials: int,
        options: Mapping[str, Any],
        say: Callable[[str], None],
        after_trial: Callable[[], None] = lambda: None,
    ) -> None:
        self.study, self.name, self.folder, self.dims = study, name, folder, dims
        self.key, self.maximize, self.trials = key, maximize, trials
        self.options, self.say, self.after_trial = dict(options), say, after_trial
        self.log_every = self.options.pop("log_every", None)
        self.pruning = study.pruner.__class__.__name__ != "NopPruner"

    def _taken(self, mine: Any | None = None) -> int:
        """Finished trials plus the running ones (started before ``mine``, when given)."""
        from optuna.trial import TrialState

        total = 0
        for trial in report.counted(self.study.get_trials(deepcopy=False)):
            finished = trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
            earlier = mine is None or (trial._trial_id != mine._trial_id and _started_before(trial, mine))
            if finished or (trial.state == TrialState.RUNNING and earlier):
                total += 1
        return total

    def run(self, timeout: float | None) -> None:
        from optuna.trial import TrialState

        started = time.monotonic()
        failed_in_a_row = 0
        for number in fail_orphans(self.study):
            self.say(f"trial {number} failed: its process ended before it did; its parameters run again")
        while self._taken() < self.trials:
            if timeout is not None and time.monotonic() - started >= timeout:
                self.say(f"--timeout {timeout:g} s reached: no more trials started here")
                break
            try:
                self.study.optimize(self._objective, n_trials=1, catch=(Exception,))
            except KeyboardInterrupt:
                raise self._interrupted() from None
            last = max(
                (t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get(OWNER) == self._me),
                key=lambda t: t._trial_id,
                default=None,
            )
            if last is None or last.user_attrs.get(report.SURPLUS):
                continue
            self.say(self._line(last))
            self.after_trial()
            if last.state == TrialState.FAIL:
                failed_in_a_row += 1
                if failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                    error = last.user_attrs.get("error", "see its run folder")
                    kind = UsageError if last.user_attrs.get("usage") else TrainingError
                    raise kind(f"{MAX_FAILED_IN_A_ROW} trials in a row failed; the last: {error}")
            else:
                failed_in_a_row = 0
            for number in fail_orphans(self.study):
                self.say(f"trial {number} failed: its process ended before it did; its parameters run again")

    @property
    def _me(self) -> dict[str, Any]:
        return owner()

    def _interrupted(self) -> ZooError:
        from zoo.training.trainer import Interrupted

        return Interrupted(
            f"interrupted: study {self.study.study_name!r} is saved; its interrupted trial is failed and queued again",
            hint="run the same command again to continue the study",
        )

    def _line(self, trial: Any) -> str:
        params = ", ".join(f"{k}={report._cell(v)}" for k, v in trial.params.items())
        value = "" if trial.value is None else f" {self.key} {trial.value:.6g}"
        seconds = report.seconds_of(trial)
        where = trial.user_attrs.get("run", "")
        text = f"trial {trial.number} {report.state_of(trial)}{value} ({params})"
        text += f" {seconds:.1f} s" if seconds is not None else ""
        if trial.state.name == "FAIL":
            return text + f": {trial.user_attrs.get('error', 'failed')}"
        return text + (f": {where}" if where else "")

    def _objective(self, trial: Any) -> float:
        # Owned before anything can fail, so that every failure counts towards MAX_FAILED_IN_A_ROW.
        trial.set_user_attr(OWNER, self._me)
        import optuna

        from zoo.training.progress import output
        from zoo.training.trainer import train

        params = {d.key: d.suggest(trial) for d in self.dims}
        frozen = self.study._storage.get_trial(trial._trial_id)
        if self._taken(frozen) >= self.trials:
            trial.set_user_attr(report.SURPLUS, True)
            raise _Surplus(f"the study had {self.trials} trials when this one started")
        run_dir = trial_folder(self.folder, trial.number)
        trial.set_user_attr("run", str(run_dir))
        callbacks = [_epoch_reporter(trial, self.key)] if self.pruning and _has_callbacks() else []
        extra: dict[str, Any] = {"callbacks": callbacks} if callbacks else {}
        try:
            with output(stream=sys.stderr, log_every=self.log_every):
                run = train(self.name, out=run_dir, **{"quiet": True, **self.options}, **extra, **params)
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt) or getattr(exc, "exit_code", None) == 130
            message = (
                "interrupted" if interrupted else (getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
            )
            trial.set_user_attr("error", " ".join(str(message).split())[:500])
            if isinstance(exc, UsageError):
                trial.set_user_attr("usage", True)
            if interrupted:  # Optuna fails the trial and lets a KeyboardInterrupt through
                self.study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
                raise KeyboardInterrupt from exc
            raise
        value = _best_value(run.history, self.key, self.maximize)
        if getattr(run, "status", "finished") == "pruned":
            raise optuna.TrialPruned(getattr(run, "stop_reason", None) or "pruned")
        if value is None:
            found = sorted(k for k in run.metrics if k.startswith(("val_", "train_")))
            trial.set_user_attr("usage", True)
            message = f"the runs record no {self.key}"
            trial.set_user_attr("error", message)
            raise UsageError(message, hint="--metric " + (", ".join(found) or "a metric the run records"))
        return value


def _has_callbacks() -> bool:
    try:
        import zoo.training.callbacks  # noqa: F401
    except ImportError:
        print("note: this zoo has no epoch-end callbacks; trials are not pruned", file=sys.stderr)
        return False
    return True
