"""Typed training hyperparameters: read and checked once, then used as attributes.

A recipe is a plain mapping (plugins write them as dict literals); the trainer works
with ``HParams``, so a value is converted and range-checked in one place, whether it
came from a recipe, the command line, ``zoo.train(...)`` or a checkpoint being
resumed. Keys that only some models use (``grid_step``...) ride along in ``extra``.

``min_steps`` lets a recipe counted in epochs still take enough optimizer steps on a
small data set: the trainer, which knows the data size, raises ``epochs`` to reach it,
to at most ``raise_limit`` passes over the data, unless the user set ``--epochs``
(``reach_min_steps``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from zoo.contracts import settings
from zoo.errors import UsageError

#: The largest number of epochs or batch size zoo accepts (``zoo.contracts.settings``).
MAX_COUNT = settings.MAX_COUNT
#: ``min_steps`` raises the epochs to at most this many passes over the data, or to
#: SMALL_DATA_SAMPLES samples seen when that is more: on 1,000 pictures the vision recipes'
#: 800 steps were 200 passes (5-11 minutes on 2 cores) for no better held-out accuracy than
#: 20 (benchmarks/small_data.py, the zoo-vision README), while a table of 120 rows still
#: takes its 100 cheap passes.
SMALL_DATA_PASSES = 20
SMALL_DATA_SAMPLES = 20_000


def _checked(name: str, value: Any) -> Any:
    """``value`` read as the declared setting ``name`` reads it, and range-checked by its declaration."""
    declared = settings.setting(name)
    if declared.kind == "int":
        value = _whole(declared.flag, value)
    elif declared.kind == "float":
        value = _number(declared.flag, value)
    return declared.check(value)


def _whole(flag: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UsageError(f"{flag} must be a whole number, got {value!r}")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise UsageError(f"{flag} must be a whole number, got {value!r}")
    return number


def _number(flag: str, value: Any) -> float:
    if isinstance(value, bool):
        raise UsageError(f"{flag} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a number, got {value!r}") from None


@dataclass(frozen=True)
class HParams:
    """How to train: the keys every recipe has, typed, plus plugin-specific ``extra`` keys."""

    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    momentum: float
    weight_decay: float
    schedule: str
    method: str
    #: The fewest optimizer steps the run should take; 0: epochs alone decide.
    min_steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HParams:
        """Check and convert; every problem is a UsageError naming the option."""
        known = {k for k in cls.__dataclass_fields__ if k != "extra"}
        # min_steps is optional: checkpoints written before it existed still resume.
        missing = sorted(known - set(values) - {"min_steps"})
        if missing:
            raise UsageError(f"hyperparameters are missing: {', '.join(missing)}")
        method = values["method"]
        if not isinstance(method, str) or not method:
            raise UsageError(f"--method must be a name, got {method!r}")
        typed = {k: _checked(k, values.get(k, 0)) for k in known if k != "method"}
        return cls(**typed, method=method, extra={k: v for k, v in values.items() if k not in known})

    def as_dict(self) -> dict[str, Any]:
        """The flat mapping plugins' strategies read (``ctx.hparams["grid_step"]``)."""
        values = asdict(self)
        extra = values.pop("extra")
        return {**values, **extra}

    def replace(self, **changes: Any) -> HParams:
        return HParams.from_dict({**self.as_dict(), **changes})


def reach_min_steps(h: HParams, steps_per_epoch: int, samples: int) -> tuple[HParams, str | None]:
    """Raise ``epochs`` toward ``min_steps`` optimizer steps, within ``raise_limit``; the note saying so.

    A recipe counted in epochs takes few steps on a few thousand samples (6 epochs of
    4,000 at batch 256 are 96 steps). On very small data the steps alone would mean
    hundreds of passes (minutes on a CPU for no better accuracy), so the raise stops at
    ``raise_limit(samples)`` passes. On data large enough nothing changes.
    """
    if h.min_steps <= 0 or steps_per_epoch <= 0:
        return h, None
    wanted = math.ceil(h.min_steps / steps_per_epoch)
    limit = raise_limit(samples)
    epochs = min(max(h.epochs, min(wanted, limit)), MAX_COUNT)
    if epochs == h.epochs:
        return h, None
    capped = f", stopped at {limit} passes over small data" if epochs < wanted else ""
    note = (
        f"epochs: {h.epochs} -> {epochs} {'toward' if capped else 'to reach'} the recipe's {h.min_steps:,} "
        "optimizer steps (min_steps) "
        f"on {samples:,} samples at {steps_per_epoch} steps an epoch{capped}; --epochs N sets them yourself"
    )
    return h.replace(epochs=epochs), note


def raise_limit(samples: int) -> int:
    """The most epochs ``min_steps`` may raise a run on ``samples`` to: 20 passes, or 20,000 samples seen."""
    return max(SMALL_DATA_PASSES, math.ceil(SMALL_DATA_SAMPLES / max(samples, 1)))


def check_seed(seed: Any) -> int:
    """A seed torch accepts: a whole number in [0, 2**63) (``settings.MAX_SEED``)."""
    return int(_checked("seed", seed))
