"""What a run saves and restores: checkpoint metadata, best and last saves, the resume schema.

``last.safetensors`` holds the weights plus everything needed to continue exactly
where the run stopped: optimizer, scheduler and scaler state, RNG states, the step
inside a partly done epoch and its partial loss. Every field is read back through
the metadata schema and checked here before it touches the trainer.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

import torch

from zoo.checkpoint import base_metadata, restore_weights, save_checkpoint
from zoo.errors import CheckpointError, UsageError
from zoo.rundir import clean
from zoo.trainstate import capture_rng, flatten_state, restore_rng, unflatten_state
from zoo.version import __version__

if TYPE_CHECKING:
    from zoo.loop import Trainer


class RunState:
    """Saves and restores one trainer's state through the run folder."""

    def __init__(self, trainer: Trainer) -> None:
        self.t = trainer

    def metadata(self, epoch: int, record: dict[str, Any] | None, step: int | None = None) -> dict[str, Any]:
        t, plan = self.t, self.t.plan
        meta = base_metadata(plan.spec, t.config)
        meta.update(
            recipe=plan.recipe,
            hparams=plan.hparams.as_dict(),
            seed=plan.seed,
            epoch=epoch,
            step=t.global_step if step is None else step,
            metrics=clean(record or (t.history[-1] if t.history else {})),
            dataset=plan.dataset.full_name,
            data_options=plan.shareable_data_options(),
            data_source=plan.data_source(),
            data_meta=t.bundle.meta,
            precision=plan.precision,
            deterministic=plan.deterministic,
            device=str(t.device),
            world_size=t.dist.world_size,
        )
        if plan.weights is not None:
            meta["weights_from"] = plan.weights
        return meta

    def resolved_config(self) -> dict[str, Any]:
        """Everything that decides this run, for ``config.json`` in the run folder."""
        t, plan = self.t, self.t.plan
        return {
            "model": plan.spec.full_name,
            "recipe": plan.recipe,
            "hparams": plan.hparams.as_dict(),
            "data_options": plan.data_options,
            "data_source": plan.data_source(),
            "config": t.config,
            # Builder arguments the data decided (zoo.runconfig.INFORMATIONAL): --config lets the data decide again.
            "data_config": {k: v for k, v in t.bundle.config.items() if k not in plan.config and t.config.get(k) == v},
            "seed": plan.seed,
            "precision": plan.precision,
            "deterministic": plan.deterministic,
            "device": str(t.device),
            "world_size": t.dist.world_size,
            "weights": plan.weights,
            "save_every": plan.save_every,
            # Local to this machine, like the data options' paths: config.json is never shared in a checkpoint.
            "data_dir": None if plan.given_data_dir is None else str(plan.given_data_dir),
            "versions": {
                "zoo": __version__,
                "torch": torch.__version__,
                "python": platform.python_version(),
                plan.spec.distribution: plan.spec.version,
            },
        }

    def keep_best(self, epoch: int, record: dict[str, Any]) -> None:
        """Hold the best weights in memory; ``flush_best`` writes them at the next save point."""
        state = {k: v.detach().clone() for k, v in self.t.module.state_dict().items()}
        # The metadata is built only when written: a small model improves on most of
        # thousands of epochs, and only the last improvement before a save point is kept.
        self.pending_best: tuple[int, dict[str, Any], int, dict[str, torch.Tensor]] | None = (
            epoch + 1,
            record,
            self.t.global_step,
            state,
        )

    def flush_best(self, durable: bool) -> None:
        pending = getattr(self, "pending_best", None)
        if pending is not None and self.t.dist.is_main:
            epoch, record, step, state = pending
            save_checkpoint(self.t.folder.best, state, self.metadata(epoch, record, step), durable=durable)
        self.pending_best = None

    def save_last(self, epoch: int, ctx_done: int, durable: bool) -> None:
        """Weights plus everything needed to continue exactly where the run is."""
        t = self.t
        if not t.dist.is_main:
            return
        meta = self.metadata(epoch, None)
        tensors: dict[str, torch.Tensor] = {}
        if t.optimizer is not None:
            found, skeleton = flatten_state("optim", t.optimizer.state_dict())
            tensors.update(found)
            meta["optimizer_state"] = {"optimizer": t.plan.hparams.optimizer, "state": skeleton}
        if t.scheduler is not None:
            found, skeleton = flatten_state("sched", t.scheduler.state_dict())
            tensors.update(found)
            meta["scheduler_state"] = {"schedule": t.plan.hparams.schedule, "state": skeleton}
        if t.scaler is not None:
            meta["scaler_state"] = t.scaler.state_dict()
        rng_tensors, rng_info = capture_rng()
        tensors.update(rng_tensors)
        meta["rng_state"] = rng_info
        meta["step_in_epoch"] = ctx_done
        meta["partial_loss"] = float(t.loss_sum.item()) if ctx_done else 0.0
        meta["partial_n"] = t.loss_n if ctx_done else 0
        meta["history_best"] = t.best
        save_checkpoint(t.folder.last, t.module, meta, tensors, durable=durable)

    def restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Put a ``last`` checkpoint's state back; any damage is one CheckpointError."""
        t = self.t
        last = t.folder.last
        restore_weights(t.module, tensors, last, t.plan.spec.full_name)
        try:
            self._restore_optim(meta, tensors)
            if "rng_state" in meta:
                restore_rng(tensors, meta["rng_state"])
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
            raise CheckpointError(last, f"cannot resume: saved training state is damaged ({exc})") from None
        t.start_epoch = int(meta["epoch"])
        t.global_step = int(meta.get("step", 0))
        t.skip = int(meta.get("step_in_epoch", 0))
        best = meta.get("history_best")
        t.best = best if isinstance(best, dict) and isinstance(best.get("value"), (int, float)) else None
        if t.skip:
            t.loss_sum = torch.tensor(float(meta.get("partial_loss", 0.0)), device=t.device)
            t.loss_n = int(meta.get("partial_n", 0))
        if t.skip >= t.steps_per_epoch():
            raise CheckpointError(last, f"cannot resume: step {t.skip} is past the end of the epoch")
        # Read only: the folder is not ours until fit() holds its lock (it then drops later records).
        t.history = [r for r in t.folder.read_metrics(warn=False) if r["epoch"] <= t.start_epoch]

    def _restore_optim(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        t = self.t
        if t.optimizer is not None:
            saved = meta.get("optimizer_state")
            if not isinstance(saved, dict) or saved.get("optimizer") != t.plan.hparams.optimizer:
                raise ValueError(f"the optimizer state is not {t.plan.hparams.optimizer!r} state")
            t.optimizer.load_state_dict(unflatten_state("optim", tensors, saved["state"]))
        if t.scheduler is not None:
            saved = meta.get("scheduler_state")
            if not isinstance(saved, dict) or saved.get("schedule") != t.plan.hparams.schedule:
                raise ValueError(f"the scheduler state is not {t.plan.hparams.schedule!r} state")
            t.scheduler.load_state_dict(unflatten_state("sched", tensors, saved["state"]))
        if t.scaler is not None and "scaler_state" in meta:
            t.scaler.load_state_dict(meta["scaler_state"])

    def load_weights(self, ref: str) -> None:
        """Start from published or saved weights (fine-tuning: the optimizer starts fresh)."""
        from zoo.weights import open_weights

        loaded = open_weights(ref)
        if loaded.spec.full_name != self.t.plan.spec.full_name:
            raise CheckpointError(loaded.path, f"holds {loaded.spec.full_name}, not {self.t.plan.spec.full_name}")
        saved = dict(loaded.metadata["config"])
        for key, value in self.t.plan.config.items():
            if key in saved and _plain(saved[key]) != _plain(value):
                flag = "--" + key.replace("_", "-")
                raise UsageError(
                    f"{flag} {_shown(value)} contradicts the weights {ref}, which were trained with "
                    f"{key} = {_shown(saved[key])}",
                    hint=f"leave out {flag} to keep the weights' value, or train without --weights",
                )
        self.t.config = saved
        from zoo.registry import build_model

        self.t.module = build_model(self.t.plan.spec, self.t.config)
        self.t.module.load_state_dict(loaded.model.state_dict())


def _shown(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def _plain(value: Any) -> Any:
    """Tuples as lists, as JSON stores them: a (6, 4) default and a saved [6, 4] agree."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value
