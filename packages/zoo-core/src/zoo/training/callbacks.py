"""Epoch-end callbacks: code that sees each epoch's metrics and may stop the run.

The trainer calls every callback on rank 0 after an epoch's metrics are recorded; a
callback that calls ``end.stop(reason)`` ends the run after that epoch: the trainer
saves ``last.safetensors`` (so ``--resume`` continues it), writes ``outcome.json``
and returns normally. Lightning's ``Callback`` is the model, kept to one hook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import UsageError

#: Statuses a stopped run may record besides "finished": short words, as tools filter on them.
STATUS_CHARS = "abcdefghijklmnopqrstuvwxyz_-"


@dataclass(frozen=True)
class EpochEnd:
    """What a callback sees after each epoch; ``stop()`` asks the trainer to end the run."""

    epoch: int  # epochs done, 1-based
    epochs: int  # epochs planned
    metrics: Mapping[str, float]  # this epoch's record: train_loss, val_loss, val_<metric>, ...
    monitor: str  # the main validation metric key, e.g. "val_accuracy"
    mode: str  # "max" or "min"
    run_dir: Path
    _requests: list[tuple[str, str]] = field(default_factory=list, repr=False, compare=False)

    def stop(self, reason: str, status: str = "stopped") -> None:
        """End the run after this epoch; ``status`` goes to ``Run.status`` and ``outcome.json``."""
        if not isinstance(status, str) or not status or status == "finished" or set(status) - set(STATUS_CHARS):
            raise ValueError(f"a stop status is a short lower-case word other than 'finished', got {status!r}")
        self._requests.append((str(reason), status))

    @property
    def stop_request(self) -> tuple[str, str] | None:
        """The first (reason, status) asked for, if any."""
        return self._requests[0] if self._requests else None


class Callback:
    """Subclass and override ``on_epoch_end``.

    ``needs_validation``: the callback judges held-out metrics, so a run whose data has
    no validation split is refused before training instead of judging training metrics.
    """

    needs_validation: bool = False

    def on_epoch_end(self, end: EpochEnd) -> None:
        """Called on rank 0 after every epoch, once its metrics are recorded."""

    def on_resume(self, done: Sequence[EpochEnd]) -> None:
        """Called on rank 0 before a resumed run goes on, with the epochs it had done; stops are ignored."""


class EarlyStopping(Callback):
    """Stop when the main validation metric has not improved for ``patience`` epochs."""

    needs_validation = True

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise UsageError(f"early stopping needs a patience of 1 epoch or more, got {patience!r}")
        if not isinstance(min_delta, (int, float)) or isinstance(min_delta, bool) or not min_delta >= 0:
            raise UsageError(f"early stopping needs a min_delta of 0 or more, got {min_delta!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_epoch = 0

    def on_resume(self, done: Sequence[EpochEnd]) -> None:
        # The patience counts from the best epoch of the whole run, not from the resume.
        for end in done:
            self.on_epoch_end(end)

    def on_epoch_end(self, end: EpochEnd) -> None:
        value = end.metrics.get(end.monitor)
        if value is None:
            return
        value = float(value)
        better = (
            self.best is None
            or (end.mode == "max" and value > self.best + self.min_delta)
            or (end.mode == "min" and value < self.best - self.min_delta)
        )
        if better:
            self.best, self.best_epoch = value, end.epoch
            return
        waited = end.epoch - self.best_epoch
        if waited >= self.patience and end.epoch < end.epochs:
            end.stop(
                f"{end.monitor} has not improved for {waited} epoch{'s' if waited != 1 else ''} "
                f"(best {self.best:.6g} at epoch {self.best_epoch})"
            )


def check_callbacks(callbacks: Sequence[Callback], has_validation: bool, model: str) -> None:
    """Refuse what cannot work: a non-callback, or a validation judge without validation data."""
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise UsageError(
                f"callbacks must be zoo.training.callbacks.Callback objects, got {type(callback).__name__}",
                hint="subclass zoo.training.callbacks.Callback and override on_epoch_end",
            )
        if callback.needs_validation and not has_validation:
            raise UsageError(
                f"{type(callback).__name__} judges validation metrics, but {model}'s data has no validation split",
                hint="leave out --early-stop (or the callback) for this model, or give it more data",
            )


def epoch_end(record: Mapping[str, Any], epochs: int, monitor: str, mode: str, run_dir: Path) -> EpochEnd:
    """What callbacks see of one epoch's record: its numbers."""
    metrics = {
        k: float(v)
        for k, v in record.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
    return EpochEnd(int(record["epoch"]), epochs, metrics, monitor, mode, run_dir)


def run_callbacks(callbacks: Sequence[Callback], end: EpochEnd) -> tuple[str, str] | None:
    """Every callback, in order; the first stop asked for wins (reason, status)."""
    for callback in callbacks:
        callback.on_epoch_end(end)
    return end.stop_request
