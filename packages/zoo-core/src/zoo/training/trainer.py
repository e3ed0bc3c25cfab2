"""``zoo.train``: plan a run, let a ``Trainer`` (``loop``) run its epochs, hand back a ``Run``.

The CLI, ``zoo.train``, folds, tuning trials and benchmarks all come through ``train_with``;
the ``Run`` they get reads how the run ended from the trainer's progress state.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from zoo.contracts.spec import ModelSpec
from zoo.training.callbacks import Callback
from zoo.training.distributed import DistEnv
from zoo.training.loop import Trainer
from zoo.training.plan import make_plan
from zoo.training.runconfig import RunOptions
from zoo.training.stops import Interrupted
from zoo.training.threads import check_threads, torch_threads

__all__ = ["Interrupted", "Run", "Trainer", "train", "train_with"]


@dataclass
class Run:
    """A finished (or stopped, or resumed and finished) training run."""

    run_dir: Path
    spec: ModelSpec
    model: nn.Module
    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    is_main: bool = True
    seconds: float = 0.0
    #: "finished", or the status a callback gave when it stopped the run ("stopped", "pruned"...).
    status: str = "finished"
    stop_reason: str | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}

    def __repr__(self) -> str:
        best = f"{self.best['metric']}={self.best['value']:.4g}" if self.best else "no best"
        return f"Run({self.spec.full_name!r}, {str(self.run_dir)!r}, {len(self.history)} epochs, {best})"


def train(name: str, *, callbacks: Sequence[Callback] = (), **keywords: Any) -> Run:
    """Train ``name`` as ``zoo train`` does (see ``zoo train --help``); under torchrun, with DDP.

    A keyword naming a ``RunOptions`` field sets it (``seed``, ``device``, ``out``, ``resume``,
    ``early_stop``...); the others are ``--KEY VALUE`` settings (``epochs=3``, ``lr=0.1``).
    ``callbacks`` see every epoch's metrics on rank 0 and may stop the run (``zoo.training.callbacks``).
    """
    options, overrides = RunOptions().with_keywords(keywords)
    return train_with(name, options, callbacks, **overrides)


def train_with(name: str, options: RunOptions, callbacks: Sequence[Callback] = (), **overrides: Any) -> Run:
    """``train`` for callers that hold a ``RunOptions`` already (the CLI, folds)."""
    started = time.perf_counter()
    dist = DistEnv.from_environ()
    plan = make_plan(name, options, dist, **overrides)
    trainer = Trainer(plan, dist, callbacks)
    finished = False
    try:
        trainer.setup()
        with torch_threads(trainer.choose_threads(check_threads(options.threads))):
            history = trainer.fit()
        finished = True
    finally:
        dist.close(finished)
    state = trainer.progress
    return Run(
        trainer.folder.path,
        plan.spec,
        trainer.module,
        history,
        state.best,
        dist.is_main,
        time.perf_counter() - started,
        state.status,
        state.stop_reason,
    )
