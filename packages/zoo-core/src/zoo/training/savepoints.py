"""When a run writes its checkpoints, and which weights count as its best.

Tiny models run thousands of epochs a second; writing two files per epoch would
dominate their run. So the best weights are held in memory and written at save
points: every ``--save-every`` epochs, else every ``SAVE_INTERVAL_S`` seconds of
training, and always at the end, on interrupt and when a run diverges.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from zoo.contracts.tasks import is_better
from zoo.files.checkpoint import base_metadata, save_checkpoint
from zoo.files.runfolder import RunFolder
from zoo.jsonout import nulled
from zoo.training.distributed import DistEnv
from zoo.training.plan import Plan
from zoo.training.setup import Setup
from zoo.training.state import TrainProgress, optimization_state

#: Seconds of training between two saves of ``last.safetensors`` unless --save-every says otherwise.
SAVE_INTERVAL_S = 10.0


def improves(record: dict[str, Any], best: dict[str, Any] | None, key: str, mode: str) -> bool:
    """Better on the main metric, or as good with a lower loss (ties go to the surer model)."""
    value = record.get(f"val_{key}")
    if value is None:
        return False
    if best is None:
        return True
    if value != best["value"]:
        return is_better(value, best["value"], mode)
    loss, best_loss = record.get("val_loss"), best.get("loss")
    return loss is not None and best_loss is not None and loss < best_loss


class SavePoints:
    """Writes a run's checkpoints: the save schedule, the best weights waiting for the next save point."""

    def __init__(self, plan: Plan, parts: Setup, dist: DistEnv, folder: RunFolder) -> None:
        self.plan, self.parts, self.dist = plan, parts, dist
        self.every = plan.save_every
        self.folder = folder
        self.pending_best: tuple[int, dict[str, Any], int, dict[str, torch.Tensor]] | None = None

    def due(self, epochs_done: int, last_save: float) -> bool:
        if self.every is not None:
            return self.every > 0 and epochs_done % self.every == 0
        return time.monotonic() - last_save >= SAVE_INTERVAL_S

    def keep_best(self, module: nn.Module, epoch: int, record: dict[str, Any], step: int) -> None:
        """Hold a copy of the weights; the metadata is built only if they are written.

        A small model improves on most of thousands of epochs, and only the last
        improvement before a save point is kept.
        """
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.pending_best = (epoch, record, step, state)

    def metadata(
        self, epoch: int, record: dict[str, Any] | None, step: int, history: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The metadata of a checkpoint of this run after ``epoch`` epochs."""
        plan, p = self.plan, self.parts
        meta = base_metadata(plan.spec, p.config)
        meta.update(plan.checkpoint_fields())
        meta.update(
            epoch=epoch,
            step=step,
            metrics=nulled(record or (history[-1] if history else {})),
            data_meta=p.bundle.meta,
            device=str(p.device),
            world_size=self.dist.world_size,
        )
        if p.weights_transfer:
            meta["weights_transfer"] = p.weights_transfer
        return meta

    def flush_best(self, history: list[dict[str, Any]], durable: bool) -> None:
        if self.pending_best is not None and self.dist.is_main:
            epoch, record, step, state = self.pending_best
            meta = self.metadata(epoch, record, step, history)
            save_checkpoint(self.folder.best, state, meta, durable=durable)
        self.pending_best = None

    def save(self, progress: TrainProgress, durable: bool) -> float:
        """Write last (resumable) and any better weights kept since the previous save point.

        Returns when (``time.monotonic()``) the save ended, for the owner of ``progress`` to keep.
        """
        self.flush_best(progress.history, durable)
        if self.dist.is_main:
            meta = self.metadata(progress.epochs_done, None, progress.global_step, progress.history)
            p = self.parts
            tensors, optimization = optimization_state(self.plan.hparams, p.optimizer, p.scheduler, p.scaler)
            meta.update(optimization)
            meta.update(progress.to_meta())
            save_checkpoint(self.folder.last, p.module, meta, tensors, durable=durable)
        return time.monotonic()
