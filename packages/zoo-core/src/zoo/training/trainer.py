"""The trainer: ``zoo.train`` plans a run and a ``Trainer`` runs its epochs.

Plugins say what differs (model, data, loss, metrics, fitting methods); the trainer
owns the rest: precision, evaluation, save points, epoch-end callbacks, Ctrl-C and
SIGTERM, the divergence guard and torch.distributed. What it builds before the first
epoch comes from ``trainsetup``; where the run is, from one ``TrainProgress``; files go
through ``runfolder`` and ``checkpoint``.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import nn

from zoo.contracts.spec import ModelSpec
from zoo.errors import TrainingError, UsageError, ZooError
from zoo.files.checkpoint import non_finite, restore_weights
from zoo.files.runfolder import RunFolder, new_run_path
from zoo.plugins.local import FIT_DISTRIBUTION
from zoo.training.callbacks import Callback, EarlyStopping, check_callbacks, epoch_end, run_callbacks
from zoo.training.distributed import DistEnv
from zoo.training.epoch import EpochContext, StopRequested
from zoo.training.plan import Plan, make_plan
from zoo.training.progress import Reporter
from zoo.training.runconfig import RunOptions
from zoo.training.savepoints import SavePoints, improves
from zoo.training.setup import Setup, build, steps_per_epoch
from zoo.training.state import TrainProgress, restore_optimization
from zoo.training.threads import check_threads, choose_threads, torch_threads

__all__ = ["Interrupted", "Run", "Trainer", "train"]


class Interrupted(ZooError):
    """Ctrl-C or SIGTERM during training: the state was saved and the run can be resumed."""

    exit_code = 130


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
        self.status = "finished"
        self.stop_reason: str | None = None
        self.threads: int | None = None  # torch's CPU threads for the epochs (choose_threads)

    def setup(self) -> None:
        plan = self.plan
        self.parts: Setup = build(plan, self.dist)
        p = self.parts
        check_callbacks(self.callbacks, p.bundle.val is not None, plan.spec.full_name)
        self.module: nn.Module = p.module
        self.reporter = Reporter(enabled=self.dist.is_main, quiet=plan.quiet)
        self.saves = SavePoints(plan, p, self.dist)
        if plan.resume is not None:
            last = self.folder.last
            restore_weights(p.module, plan.resume_tensors, last, plan.spec.full_name)
            restore_optimization(plan.resume, plan.resume_tensors, last, plan.hparams, *self._optimization())
            self.progress = TrainProgress.from_meta(plan.resume, last, self.steps_per_epoch())
            # Read only: the folder is not ours until fit() holds its lock (it then drops later records).
            done = self.progress.epochs_done
            self.progress.history = [r for r in self.folder.read_metrics(warn=False) if r["epoch"] <= done]
            if self.dist.is_main and self.callbacks:
                key, mode = p.adapter.main_metric
                ends = [
                    epoch_end(r, plan.hparams.epochs, f"val_{key}", mode, self.folder.path)
                    for r in self.progress.history
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

    def _optimization(self) -> tuple[Any, Any, Any]:
        return self.parts.optimizer, self.parts.scheduler, self.parts.scaler

    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.plan, len(self.parts.bundle.train), self.dist.world_size)

    # -- the run ---------------------------------------------------------------
    def fit(self) -> list[dict[str, Any]]:
        plan, dist, state = self.plan, self.dist, self.progress
        if dist.is_main:
            if plan.run_dir is None:
                plan.run_dir = new_run_path(plan.spec.full_name)
            self.folder = self.saves.folder = RunFolder(plan.run_dir)
            self.folder.prepare()  # the lock: from here on the folder is this run's
            self.folder.clean_temp_files()
            if plan.resume is not None:
                # Drop records of epochs after the checkpoint (a crash between log and save).
                state.history = self.folder.keep_metrics(state.epochs_done)
            self.folder.write_config({**self.parts.resolved_config(plan, dist.world_size), "threads": self.threads})
            self.reporter.header(plan, self.parts.device, self.parts.bundle, dist.world_size, self._optimizes())
            if self.parts.weights_transfer:
                self.reporter.log(f"weights: {self.parts.weights_transfer}")
            for warning in self.parts.warnings:
                self.reporter.warn(warning)
        else:
            self.folder = self.saves.folder = RunFolder(plan.run_dir or Path("."))
        dist.barrier()
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in handlers:
            signal.signal(sig, self._on_signal)
        epoch = state.epochs_done
        try:
            for epoch in range(state.epochs_done, plan.hparams.epochs):
                if self._one_epoch(epoch):
                    break
            self.saves.save(state, durable=True)
            if dist.is_main:
                self.folder.write_outcome(self.status, self.stop_reason, state.epochs_done)
        except StopRequested:
            self._keep_partial_epoch()
            self.saves.save(state, durable=True)
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
            from zoo.use.plots import plot_in_background

            note = plot_in_background(self.folder.path)
            if note:
                self.reporter.log(note)
            if plan.run_dir is not None and plan.run_dir.parent.name == plan.spec.full_name:
                self.folder.link_latest()
        return state.history

    def _optimizes(self) -> bool:
        return self.parts.optimizer is not None

    def resume_command(self) -> str:
        """The command that continues this run from this folder, with the paths it needs.

        Path options of the data come back from the folder's config.json; the data folder
        does too, but it is named here so that the command reads the same anywhere.
        """
        import shlex

        plan = self.plan
        if plan.spec.distribution == FIT_DISTRIBUTION:  # a module of the user's: only Python has it
            return f"zoo.fit(module, data, ..., resume={str(self.folder.path)!r})"
        words = ["zoo", "train", plan.spec.full_name, "--resume", str(self.folder.path)]
        if plan.given_data_dir is not None:
            words += ["--data-dir", str(plan.given_data_dir)]
        return " ".join(shlex.quote(w) for w in words)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested:  # a second Ctrl-C: stop now, losing the partial epoch
            self.reporter.warn("second interrupt: stopping now; the partial epoch since the last save is lost")
            raise KeyboardInterrupt
        self.stop_requested = True

    def _mismatch(self, exc: BaseException) -> ZooError:
        """A model that cannot run on the data (a config contradicting it) is the user's to fix."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, torch.OutOfMemoryError):
            return TrainingError(f"out of memory on {self.parts.device}: {text}", hint="try a smaller --batch-size")
        config = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in self.plan.config.items())
        return UsageError(
            f"{self.plan.spec.full_name} cannot train on this data: {text}",
            hint=(f"the options {config} may not fit the data; " if config else "")
            + "see zoo info "
            + self.plan.spec.full_name,
        )

    def _diverged(self, what: str, epoch: int) -> TrainingError:
        """Stop a run whose numbers blew up; keep (and name) the last finite weights on disk."""
        self.saves.flush_best(self.progress.history, durable=True)  # best weights held in memory are finite: keep them
        kept = [f for f in (self.folder.best, self.folder.last) if f.exists()]
        hint = "try a lower --lr"
        if kept:
            hint = f"the last good weights are in {' and '.join(str(f) for f in kept)}; {hint}"
        return TrainingError(f"{what} in epoch {epoch + 1}; the run diverged and stopped", hint=hint)

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
        state.global_step += ctx.steps
        ctx.steps = 0
        state.step_in_epoch = ctx.done
        state.partial_loss = float(ctx.loss_sum.item()) if ctx.done else 0.0
        state.partial_n = ctx.loss_n if ctx.done else 0

    def _one_epoch(self, epoch: int) -> bool:
        """Train, evaluate, record and save one epoch; True when a callback stopped the run."""
        p, state, dist = self.parts, self.progress, self.dist
        started = time.perf_counter()
        p.model.train()
        self._ctx = ctx = self._context(epoch)
        try:
            p.strategy(ctx)
        except (RuntimeError, IndexError) as exc:
            raise self._mismatch(exc) from None
        state.global_step += ctx.steps
        ctx.steps = 0
        state.step_in_epoch, state.partial_loss, state.partial_n = 0, 0.0, 0
        totals = dist.all_sum(
            {"loss": ctx.loss_sum.reshape(1).double(), "n": torch.tensor([float(ctx.loss_n)], device=p.device)}
        )
        train_loss = float(totals["loss"].item() / max(totals["n"].item(), 1.0))
        if not math.isfinite(train_loss):
            raise self._diverged(f"the training loss became {train_loss}", epoch)
        bad = non_finite({k: v for k, v in p.module.state_dict().items()})
        if bad:
            raise self._diverged(f"weights {', '.join(bad[:3])} became inf or nan", epoch)
        evaluated = p.evaluate(self.plan.hparams.batch_size, dist)
        off = [k for k, v in evaluated.items() if isinstance(v, float) and not math.isfinite(v)]
        if off:
            raise self._diverged(f"the evaluated {', '.join(off)} became inf or nan", epoch)
        seconds = time.perf_counter() - started
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": state.global_step,
            "train_loss": train_loss,
            **{f"val_{k}": v for k, v in evaluated.items()},
            "lr": float(p.optimizer.param_groups[0]["lr"]) if p.optimizer is not None else None,
            "seconds": round(seconds, 4),
            "samples_per_s": round(float(totals["n"].item()) / seconds, 1) if seconds > 0 else None,
            "eval_split": "val" if p.bundle.val is not None else "train",
        }
        state.history.append(record)
        state.epochs_done = epoch + 1
        key, mode = p.adapter.main_metric
        if improves(record, state.best, key, mode):
            best = {
                "metric": f"val_{key}",
                "value": record[f"val_{key}"],
                "epoch": epoch + 1,
                "loss": record.get("val_loss"),
            }
            state.best = best
            self.saves.keep_best(p.module, epoch + 1, record, state.global_step)
        if dist.is_main:
            self.folder.append_metrics(record)
        stopped = self._callbacks(record, f"val_{key}", mode)
        if not stopped and epoch + 1 < self.plan.hparams.epochs and self.saves.due(epoch + 1, state.last_save):
            self.saves.save(state, durable=False)  # the final state is saved once, durably, by fit()
        dist.barrier()
        report = p.adapter.epoch_report(p.module, p.bundle, p.device) if dist.is_main else None
        self.reporter.end_epoch(record, self.plan.hparams.epochs, report)
        if stopped and self.stop_reason:
            more = " --early-stop 0" if self.plan.early_stop else ""
            if more and self.plan.spec.distribution == FIT_DISTRIBUTION:
                more = " with early_stop=0"
            self.reporter.log(
                f"stopped after epoch {epoch + 1}: {self.stop_reason}; to train on: {self.resume_command()}{more}"
            )
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
        self.stop_reason, self.status = asked if asked else (None, "stopped")
        return True


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
    return Run(
        trainer.folder.path,
        plan.spec,
        trainer.module,
        history,
        trainer.progress.best,
        dist.is_main,
        time.perf_counter() - started,
        trainer.status,
        trainer.stop_reason,
    )
