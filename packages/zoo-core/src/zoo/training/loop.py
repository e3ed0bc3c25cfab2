"""The training loop: a ``Trainer`` runs one plan's epochs and owns the run's progress.

Plugins say what differs (model, data, loss, metrics, fitting methods); the trainer
owns the rest: precision, evaluation, save points, epoch-end callbacks, Ctrl-C and
SIGTERM, the divergence guard and torch.distributed. What it builds before the first
epoch comes from ``setup``; where the run is, and how it ended, is one ``TrainProgress``
that only the trainer writes; save points and the epoch view hand values back to it.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import nn

from zoo.errors import TrainingError
from zoo.files.checkpoint import non_finite, restore_weights
from zoo.files.runfolder import RunFolder, new_run_path
from zoo.training.callbacks import Callback, EarlyStopping, check_callbacks, epoch_end, run_callbacks
from zoo.training.distributed import DistEnv
from zoo.training.epoch import EpochContext, StopRequested
from zoo.training.plan import Plan
from zoo.training.progress import Reporter
from zoo.training.savepoints import SavePoints, improves
from zoo.training.setup import Setup, build, steps_per_epoch
from zoo.training.state import TrainProgress, restore_optimization
from zoo.training.stops import Interrupted, diverged, mismatch, resume_command, stopped_line
from zoo.training.threads import choose_threads

__all__ = ["Trainer"]


class Trainer:
    """Runs one plan: ``setup()`` builds everything, ``fit()`` trains and returns the history."""

    def __init__(self, plan: Plan, dist: DistEnv, callbacks: Sequence[Callback] = ()) -> None:
        self.plan = plan
        self.dist = dist
        stopper = (EarlyStopping(plan.early_stop),) if plan.early_stop else ()
        self.callbacks = (*callbacks, *stopper)
        self.progress = TrainProgress()
        self.folder = RunFolder(plan.run_dir or Path("."))
        self.stop_requested = False
        self.threads: int | None = None  # torch's CPU threads for the epochs (choose_threads)
        self._ctx: EpochContext | None = None  # the epoch under way, until its batches are counted

    def setup(self) -> None:
        self.parts: Setup = build(self.plan, self.dist)
        self.plan = self.parts.plan  # the plan for this data (min_steps may have raised the epochs)
        check_callbacks(self.callbacks, self.parts.bundle.val is not None, self.plan.spec.full_name)
        self.module: nn.Module = self.parts.module
        self.reporter = Reporter(enabled=self.dist.is_main, quiet=self.plan.quiet)
        if self.plan.resume is not None:
            self._restore(self.plan.resume)

    def _restore(self, meta: dict[str, Any]) -> None:
        """Weights, optimizer, RNG and progress as ``last`` holds them; callbacks see the epochs done."""
        plan, p, last = self.plan, self.parts, self.folder.last
        restore_weights(p.module, plan.resume_tensors, last, plan.spec.full_name)
        restore_optimization(meta, plan.resume_tensors, last, plan.hparams, p.optimizer, p.scheduler, p.scaler)
        self.progress = TrainProgress.from_meta(meta, last, self.steps_per_epoch())
        # Read only: the folder is not ours until fit() holds its lock (it then drops later records).
        done = self.progress.epochs_done
        self.progress.history = [r for r in self.folder.read_metrics(warn=False) if r["epoch"] <= done]
        if self.dist.is_main and self.callbacks:
            key, mode = p.adapter.main_metric
            ends = [
                epoch_end(r, plan.hparams.epochs, f"val_{key}", mode, self.folder.path) for r in self.progress.history
            ]
            for callback in self.callbacks:
                callback.on_resume(ends)

    def choose_threads(self, given: int | None) -> int:
        """torch's CPU threads for the epochs: ``given``, else ``threads.choose_threads`` on a lone CPU process."""
        self.threads = given or torch.get_num_threads()
        if given is None and self.parts.device.type == "cpu" and self.dist.world_size == 1:
            rows = self.plan.hparams.batch_size or len(self.parts.bundle.train)
            self.threads = choose_threads(sum(p.numel() for p in self.module.parameters()), rows)
        return self.threads

    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.plan, len(self.parts.bundle.train), self.dist.world_size)

    # -- the run ---------------------------------------------------------------
    def fit(self) -> list[dict[str, Any]]:
        plan, dist, state = self.plan, self.dist, self.progress
        self.folder = self._open_folder() if dist.is_main else RunFolder(plan.run_dir or Path("."))
        self.saves = SavePoints(plan, self.parts, dist, self.folder)
        dist.barrier()
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in handlers:
            signal.signal(sig, self._on_signal)
        epoch = state.epochs_done
        try:
            for epoch in range(state.epochs_done, plan.hparams.epochs):
                if self._one_epoch(epoch):
                    break
            state.last_save = self.saves.save(state, durable=True)
            if dist.is_main:
                self.folder.write_outcome(state.status, state.stop_reason, state.epochs_done)
        except StopRequested:
            self._keep_partial_epoch()
            state.last_save = self.saves.save(state, durable=True)
            dist.barrier()
            self.reporter.close()
            raise Interrupted(
                f"interrupted during epoch {epoch + 1}; state saved to {self.folder.last}",
                hint=f"continue with: {self.resume_command()}",
            ) from None
        finally:
            for sig, previous in handlers.items():
                signal.signal(sig, previous)
            self.reporter.close()
            if dist.is_main:
                self.folder.unlock()
        if dist.is_main:
            self._after_run()
        return state.history

    def _open_folder(self) -> RunFolder:
        """Rank 0 takes the run folder (a fresh one unless the plan names it), writes config.json, greets."""
        plan, p, state = self.plan, self.parts, self.progress
        folder = RunFolder(plan.run_dir or new_run_path(plan.spec.full_name))
        folder.prepare()  # the lock: from here on the folder is this run's
        folder.clean_temp_files()
        if plan.resume is not None:
            # Drop records of epochs after the checkpoint (a crash between log and save).
            state.history = folder.keep_metrics(state.epochs_done)
        folder.write_config({**p.resolved_config(plan, self.dist.world_size), "threads": self.threads})
        self.reporter.header(plan, folder.path, p.device, p.bundle, self.dist.world_size, p.optimizer is not None)
        if p.weights_transfer:
            self.reporter.log(f"weights: {p.weights_transfer}")
        for warning in p.warnings:
            self.reporter.warn(warning)
        return folder

    def _after_run(self) -> None:
        """Rank 0's last words: plots drawn in the background, ``latest`` pointed at a fresh run's folder."""
        from zoo.use.plots import plot_in_background

        note = plot_in_background(self.folder.path)
        if note:
            self.reporter.log(note)
        if self.folder.path.parent.name == self.plan.spec.full_name:
            self.folder.link_latest()

    def resume_command(self) -> str:
        """The command that continues this run from this folder (``stops.resume_command``)."""
        return resume_command(self.plan.spec, self.folder.path, self.plan.given_data_dir)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested:  # a second Ctrl-C: stop now, losing the partial epoch
            self.reporter.warn("second interrupt: stopping now; the partial epoch since the last save is lost")
            raise KeyboardInterrupt
        self.stop_requested = True

    def _diverged(self, what: str, epoch: int) -> TrainingError:
        """Stop a run whose numbers blew up; keep (and name) the last finite weights on disk."""
        self.saves.flush_best(self.progress.history, durable=True)  # best weights held in memory are finite: keep them
        return diverged(what, epoch, [f for f in (self.folder.best, self.folder.last) if f.exists()])

    def _context(self, epoch: int) -> EpochContext:
        p, state = self.parts, self.progress
        return EpochContext(
            model=p.model,
            device=p.device,
            hparams=self.plan.hparams.as_dict(),
            epoch=epoch,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            seed=self.plan.seed,
            bundle=p.bundle,
            step=p.train_step,
            loss=p.adapter.loss,
            reporter=self.reporter,
            stop_requested=lambda: self.stop_requested,
            artifacts=self.folder.path if self.dist.is_main else None,
            skip=state.step_in_epoch,
            loss_sum=state.partial_loss,
            loss_n=state.partial_n,
        )

    def _keep_partial_epoch(self) -> None:
        """An interrupt in mid-epoch: the batches done and their loss go into the progress."""
        ctx, state = self._ctx, self.progress
        if ctx is None:  # interrupted between epochs: nothing partial to keep
            return
        self._ctx = None
        state.global_step += ctx.steps
        state.step_in_epoch = ctx.done
        state.partial_loss = float(ctx.loss_sum.item()) if ctx.done else 0.0
        state.partial_n = ctx.loss_n if ctx.done else 0

    def _train_epoch(self, epoch: int) -> tuple[float, float]:
        """Run the fitting strategy over one epoch; the mean training loss and the samples seen (all ranks)."""
        p, state = self.parts, self.progress
        p.model.train()
        self._ctx = ctx = self._context(epoch)
        try:
            p.strategy(ctx)
        except (RuntimeError, IndexError) as exc:
            raise mismatch(exc, self.plan.spec, self.plan.config, p.device) from None
        self._ctx = None  # counted below: an interrupt from here on keeps no partial epoch
        state.global_step += ctx.steps
        state.step_in_epoch, state.partial_loss, state.partial_n = 0, 0.0, 0
        totals = self.dist.all_sum(
            {"loss": ctx.loss_sum.reshape(1).double(), "n": torch.tensor([float(ctx.loss_n)], device=p.device)}
        )
        return float(totals["loss"].item() / max(totals["n"].item(), 1.0)), float(totals["n"].item())

    def _evaluate(self, epoch: int, train_loss: float) -> dict[str, Any]:
        """The validation metrics, after proving the loss, the weights and the metrics finite."""
        p = self.parts
        if not math.isfinite(train_loss):
            raise self._diverged(f"the training loss became {train_loss}", epoch)
        bad = non_finite({k: v for k, v in p.module.state_dict().items()})
        if bad:
            raise self._diverged(f"weights {', '.join(bad[:3])} became inf or nan", epoch)
        evaluated = p.evaluate(self.plan.hparams.batch_size, self.dist)
        off = [k for k, v in evaluated.items() if isinstance(v, float) and not math.isfinite(v)]
        if off:
            raise self._diverged(f"the evaluated {', '.join(off)} became inf or nan", epoch)
        return evaluated

    def _one_epoch(self, epoch: int) -> bool:
        """Train, evaluate, record and save one epoch; True when a callback stopped the run."""
        p, state, dist = self.parts, self.progress, self.dist
        started = time.perf_counter()
        train_loss, samples = self._train_epoch(epoch)
        evaluated = self._evaluate(epoch, train_loss)
        seconds = time.perf_counter() - started
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": state.global_step,
            "train_loss": train_loss,
            **{f"val_{k}": v for k, v in evaluated.items()},
            "lr": float(p.optimizer.param_groups[0]["lr"]) if p.optimizer is not None else None,
            "seconds": round(seconds, 4),
            "samples_per_s": round(samples / seconds, 1) if seconds > 0 else None,
            "eval_split": "val" if p.bundle.val is not None else "train",
        }
        state.history.append(record)
        state.epochs_done = epoch + 1
        key, mode = p.adapter.main_metric
        if improves(record, state.best, key, mode):
            state.best = {
                "metric": f"val_{key}",
                "value": record[f"val_{key}"],
                "epoch": epoch + 1,
                "loss": record.get("val_loss"),
            }
            self.saves.keep_best(p.module, epoch + 1, record, state.global_step)
        if dist.is_main:
            self.folder.append_metrics(record)
        stopped = self._callbacks(record, f"val_{key}", mode)
        if not stopped and epoch + 1 < self.plan.hparams.epochs and self.saves.due(epoch + 1, state.last_save):
            state.last_save = self.saves.save(state, durable=False)  # the final state is saved once, by fit()
        dist.barrier()
        report = p.adapter.epoch_report(p.module, p.bundle, p.device) if dist.is_main else None
        self.reporter.end_epoch(record, self.plan.hparams.epochs, report)
        if stopped and state.stop_reason:
            early = bool(self.plan.early_stop)
            self.reporter.log(stopped_line(epoch, state.stop_reason, self.resume_command(), self.plan.spec, early))
        return stopped

    def _callbacks(self, record: dict[str, Any], monitor: str, mode: str) -> bool:
        """Rank 0 asks the callbacks; every rank learns the answer from one tiny all_sum."""
        if not self.callbacks:
            return False
        asked = None
        if self.dist.is_main:
            end = epoch_end(record, self.plan.hparams.epochs, monitor, mode, self.folder.path)
            asked = run_callbacks(self.callbacks, end)
        flag = torch.tensor([1.0 if asked else 0.0], device=self.parts.device)
        if float(self.dist.all_sum({"stop": flag})["stop"].item()) == 0.0:
            return False
        self.progress.stop_reason, self.progress.status = asked if asked else (None, "stopped")
        return True
