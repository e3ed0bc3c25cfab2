"""``zoo.train``: plan a run, train it, hand back the result.

The pieces live in their own modules: ``plan`` (what to do, checked), ``loop`` (doing
it), ``runstate`` (what is saved and restored) and ``rundir`` (where it goes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from zoo.distributed import DistEnv
from zoo.loop import Interrupted, Trainer
from zoo.plan import make_plan
from zoo.spec import ModelSpec

__all__ = ["Interrupted", "Run", "train"]


@dataclass
class Run:
    """A finished (or resumed and finished) training run."""

    run_dir: Path
    spec: ModelSpec
    model: nn.Module
    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    is_main: bool = True
    seconds: float = 0.0

    @property
    def metrics(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}

    def __repr__(self) -> str:
        best = f"{self.best['metric']}={self.best['value']:.4g}" if self.best else "no best"
        return f"Run({self.spec.full_name!r}, {str(self.run_dir)!r}, {len(self.history)} epochs, {best})"


def train(
    name: str,
    *,
    seed: int | None = None,
    device: str = "auto",
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    precision: str | None = None,
    deterministic: bool = False,
    quiet: bool = False,
    download: bool = True,
    weights: str | None = None,
    save_every: int | None = None,
    **overrides: Any,
) -> Run:
    """Train ``name`` as ``zoo train`` does (see ``zoo train --help``); under torchrun, with DDP."""
    import time

    started = time.perf_counter()
    dist = DistEnv.from_environ()
    plan = make_plan(
        name,
        seed=seed,
        device=device,
        data_dir=data_dir,
        out=out,
        resume=resume,
        precision=precision,
        deterministic=deterministic,
        quiet=quiet,
        download=download,
        weights=weights,
        save_every=save_every,
        dist=dist,
        **overrides,
    )
    trainer = Trainer(plan, dist)
    finished = False
    try:
        trainer.setup()
        history = trainer.fit()
        finished = True
    finally:
        dist.close(finished)
    return Run(
        trainer.folder.path,
        plan.spec,
        trainer.module,
        history,
        trainer.best,
        dist.is_main,
        time.perf_counter() - started,
    )
