"""The training loop: build what a plan describes, run its epochs, keep the run folder current.

Plugins say what differs (model, data, loss, metrics, fitting methods); this module
owns the rest: devices, precision, batching, evaluation, Ctrl-C and SIGTERM, the
divergence guard and torch.distributed. Files go through ``rundir`` and ``checkpoint``.
"""

from __future__ import annotations

import math
import os
import signal
import time
from contextlib import nullcontext
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import nn

from zoo.adapter import ModelAdapter, Strategy, adapter_for
from zoo.batching import plan_batches, to_device
from zoo.checkpoint import non_finite
from zoo.data import DataBundle, DataRequest
from zoo.distributed import DistEnv
from zoo.epoch import EpochContext, StopRequested
from zoo.errors import TrainingError, UsageError, ZooError
from zoo.evaluate import evaluate_split
from zoo.hostmem import keep_freed_memory
from zoo.hparams import reach_min_steps
from zoo.optim import make_optimizer
from zoo.plan import Plan
from zoo.progress import Reporter
from zoo.registry import build_model
from zoo.rundir import RunFolder, new_run_path
from zoo.runstate import RunState
from zoo.spec import resolve

#: Seconds of training between two saves of ``last.safetensors`` unless --save-every says otherwise.
SAVE_INTERVAL_S = 10.0
AUTOCAST: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Interrupted(ZooError):
    """Ctrl-C or SIGTERM during training: the state was saved and the run can be resumed."""

    exit_code = 130


class Trainer:
    """Runs one plan: ``setup()`` builds everything, ``fit()`` trains and returns the history."""

    def __init__(self, plan: Plan, dist: DistEnv) -> None:
        self.plan = plan
        self.dist = dist
        self.stop_requested = False
        self.global_step = 0
        self.start_epoch = 0
        self.skip = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.loss_sum = torch.zeros(())
        self.loss_n = 0
        self.folder = RunFolder(plan.run_dir or Path("."))
        self.state = RunState(self)
        self.last_save = time.monotonic()

    # -- setup -------------------------------------------------------------
    def setup(self) -> None:
        plan, dist = self.plan, self.dist
        backend = plan.backend
        self.device = backend.torch_device(
            dist.local_rank if dist.enabled and backend.name != "cpu" else plan.device_index
        )
        if self.device.type == "cpu":
            keep_freed_memory()  # activations are reused every step: keep them off the page-fault path
        self.autocast_dtype = AUTOCAST[plan.precision]
        if plan.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif backend.name == "cuda":
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(plan.seed)
        loader = resolve(plan.dataset.loader)
        request = DataRequest(dict(plan.data_options), plan.data_dir, plan.seed, plan.download)
        bundle: DataBundle = loader(request)
        dist.check_data(len(bundle.train))
        size = plan.hparams.batch_size
        if dist.enabled and 0 < size < dist.world_size:
            raise UsageError(
                f"a batch of {size} cannot be shared by {dist.world_size} processes (the batch size is global)",
                hint=f"use --batch-size {dist.world_size} or more, or --batch-size 0 for the full batch",
            )
        self.bundle = bundle
        spec = plan.spec
        self.warnings = _data_warnings(spec.task, bundle)
        self.adapter: ModelAdapter = adapter_for(spec)
        strategies = self.adapter.strategies()
        method = plan.hparams.method
        if method not in strategies:
            raise UsageError(
                f"{spec.full_name} has no fitting method {method!r}", hint=f"methods: {', '.join(sorted(strategies))}"
            )
        self.strategy: Strategy = strategies[method]
        if plan.resume is None and not plan.epochs_given and method not in self.adapter.optimizer_free:
            # Small data: the recipe's min_steps raises the epochs before the schedule is laid out.
            plan.hparams, plan.epochs_note = reach_min_steps(plan.hparams, self.steps_per_epoch(), len(bundle.train))
        self.config = {**dict(spec.config), **bundle.config, **plan.config}
        if plan.resume is not None:
            self.config = dict(plan.resume["config"])
        self.adapter.check(plan.hparams.as_dict(), self.config)
        dist.init(backend)  # after every check that can fail the same way on all ranks
        torch.manual_seed(plan.seed)
        self.module: nn.Module = build_model(spec, self.config)
        if plan.weights is not None and plan.resume is None:
            self.state.load_weights(plan.weights)
        self.module.to(self.device)
        self.bundle.train = to_device(bundle.train, self.device)  # type: ignore[assignment]
        self.bundle.val = to_device(bundle.val, self.device)
        self.model: nn.Module = self.module
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.module, device_ids=ids)
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.scaler: Any = None
        if method not in self.adapter.optimizer_free:
            self._make_optimizer()
        self.loss_sum = torch.zeros((), device=self.device)
        self.reporter = Reporter(enabled=dist.is_main, quiet=plan.quiet)
        if plan.resume is not None:
            self.state.restore(plan.resume, plan.resume_tensors)

    def _make_optimizer(self) -> None:
        h = self.plan.hparams
        self.optimizer = make_optimizer(h.optimizer, self.module.parameters(), h.lr, h.momentum, h.weight_decay)
        steps = max(self.steps_per_epoch() * h.epochs, 1)
        if h.schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=steps)
        elif h.schedule == "onecycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=h.lr, total_steps=steps)
        if self.autocast_dtype == torch.float16 and self.device.type == "cuda":
            self.scaler = torch.amp.GradScaler("cuda")

    def steps_per_epoch(self) -> int:
        n, size = len(self.bundle.train), self.plan.hparams.batch_size
        return len(plan_batches(n, size, 0, 0, 0, self.dist.world_size, shuffle=False))

    # -- one step ------------------------------------------------------------
    def autocast(self) -> Any:
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.optimizer is None:
            raise UsageError(f"method {self.plan.hparams.method!r} does not use an optimizer")
        with self.autocast():
            outputs = self.model(x)
        loss = self.adapter.loss(outputs.float() if self.autocast_dtype else outputs, y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        loss = loss.detach()
        self.record(loss, int(x.shape[0]))
        return loss

    def record(self, loss: torch.Tensor, n: int) -> None:
        self.loss_sum = self.loss_sum + loss.detach().float() * n
        self.loss_n += n

    def running_loss(self) -> torch.Tensor | None:
        return self.loss_sum / self.loss_n if self.loss_n else None

    def evaluate(self) -> dict[str, Any]:
        split = self.bundle.val if self.bundle.val is not None else self.bundle.train
        return evaluate_split(
            self.module,
            self.adapter,
            split,
            self.bundle,
            self.device,
            self.plan.hparams.batch_size,
            self.dist,
            self.autocast,
        )

    # -- the run ---------------------------------------------------------------
    def fit(self) -> list[dict[str, Any]]:
        plan, dist = self.plan, self.dist
        if dist.is_main:
            if plan.run_dir is None:
                plan.run_dir = new_run_path(plan.spec.full_name)
            self.folder = RunFolder(plan.run_dir)
            self.folder.prepare()  # the lock: from here on the folder is this run's
            self.folder.clean_temp_files()
            if plan.resume is not None:
                # Drop records of epochs after the checkpoint (a crash between log and save).
                self.history = self.folder.keep_metrics(self.start_epoch)
            noted = {"epochs_note": plan.epochs_note} if plan.epochs_note else {}  # kept on resume
            self.folder.write_config({**self.state.resolved_config(), **noted})
            self.reporter.header(plan, self.device, self.bundle, dist.world_size, self.optimizer is not None)
            for warning in self.warnings:
                self.reporter.warn(warning)
        else:
            self.folder = RunFolder(plan.run_dir or Path("."))
        dist.barrier()
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in handlers:
            signal.signal(sig, self._on_signal)
        epoch = self.start_epoch
        try:
            for epoch in range(self.start_epoch, plan.hparams.epochs):
                self._one_epoch(epoch)
            self.save(plan.hparams.epochs, durable=True)
        except StopRequested:
            self.save(epoch, durable=True, ctx_done=self._ctx.done)
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
            from zoo.plots import plot_in_background

            note = plot_in_background(self.folder.path)
            if note:
                self.reporter.log(note)
            if plan.run_dir is not None and plan.run_dir.parent.name == plan.spec.full_name:
                self.folder.link_latest()
        return self.history

    def resume_command(self) -> str:
        """The command that continues this run from this folder, with the paths it needs.

        Path options of the data come back from the folder's config.json; the data folder
        does too, but it is named here so that the command reads the same anywhere.
        """
        import shlex

        plan = self.plan
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
            return TrainingError(f"out of memory on {self.device}: {text}", hint="try a smaller --batch-size")
        config = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in self.plan.config.items())
        return UsageError(
            f"{self.plan.spec.full_name} cannot train on this data: {text}",
            hint=(f"the options {config} may not fit the data; " if config else "")
            + "see zoo info "
            + self.plan.spec.full_name,
        )

    def _diverged(self, what: str, epoch: int) -> TrainingError:
        """Stop a run whose numbers blew up; keep (and name) the last finite weights on disk."""
        self.state.flush_best(durable=True)  # best weights held in memory are finite: keep them
        kept = [f for f in (self.folder.best, self.folder.last) if f.exists()]
        hint = "try a lower --lr"
        if kept:
            hint = f"the last good weights are in {' and '.join(str(f) for f in kept)}; {hint}"
        return TrainingError(f"{what} in epoch {epoch + 1}; the run diverged and stopped", hint=hint)

    def _one_epoch(self, epoch: int) -> None:
        started = time.perf_counter()
        self.model.train()
        if self.skip == 0:
            self.loss_sum = torch.zeros((), device=self.device)
            self.loss_n = 0
        self._ctx = EpochContext(self, epoch, self.skip)
        try:
            self.strategy(self._ctx)
        except (RuntimeError, IndexError) as exc:
            raise self._mismatch(exc) from None
        self.skip = 0
        totals = self.dist.all_sum(
            {"loss": self.loss_sum.reshape(1).double(), "n": torch.tensor([float(self.loss_n)], device=self.device)}
        )
        train_loss = float(totals["loss"].item() / max(totals["n"].item(), 1.0))
        if not math.isfinite(train_loss):
            raise self._diverged(f"the training loss became {train_loss}", epoch)
        bad = non_finite({k: v for k, v in self.module.state_dict().items()})
        if bad:
            raise self._diverged(f"weights {', '.join(bad[:3])} became inf or nan", epoch)
        evaluated = self.evaluate()
        off = [k for k, v in evaluated.items() if isinstance(v, float) and not math.isfinite(v)]
        if off:
            raise self._diverged(f"the evaluated {', '.join(off)} became inf or nan", epoch)
        seconds = time.perf_counter() - started
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": self.global_step,
            "train_loss": train_loss,
            **{f"val_{k}": v for k, v in evaluated.items()},
            "lr": self._lr(),
            "seconds": round(seconds, 4),
            "samples_per_s": round(float(totals["n"].item()) / seconds, 1) if seconds > 0 else None,
            "eval_split": "val" if self.bundle.val is not None else "train",
        }
        self.history.append(record)
        improved = self._improves(record)
        if improved:
            key, _ = self.adapter.main_metric
            self.best = {
                "metric": f"val_{key}",
                "value": record[f"val_{key}"],
                "epoch": epoch + 1,
                "loss": record.get("val_loss"),
            }
        if self.dist.is_main:
            self.folder.append_metrics(record)
        if improved:
            self.state.keep_best(epoch, record)
        if epoch + 1 < self.plan.hparams.epochs and self._save_due(epoch + 1):
            self.save(epoch + 1, durable=False)  # the final state is saved once, durably, by fit()
        self.dist.barrier()
        report = self.adapter.epoch_report(self.module, self.bundle, self.device) if self.dist.is_main else None
        self.reporter.end_epoch(record, self.plan.hparams.epochs, report)

    def _save_due(self, epochs_done: int) -> bool:
        """Save points: every ``--save-every`` epochs, else every SAVE_INTERVAL_S seconds of training.

        Tiny models run thousands of epochs a second; writing two files per epoch would
        dominate their run. The final and interrupted states are always saved.
        """
        every = self.plan.save_every
        if every is not None:
            return every > 0 and epochs_done % every == 0
        return time.monotonic() - self.last_save >= SAVE_INTERVAL_S

    def save(self, epoch: int, durable: bool, ctx_done: int = 0) -> None:
        """Write last (resumable) and any better weights kept since the previous save point."""
        self.state.flush_best(durable)
        self.state.save_last(epoch, ctx_done=ctx_done, durable=durable)
        self.last_save = time.monotonic()

    def _improves(self, record: dict[str, Any]) -> bool:
        """Better on the main metric, or as good with a lower loss (ties go to the surer model)."""
        key, mode = self.adapter.main_metric
        value = record.get(f"val_{key}")
        if value is None:
            return False
        if self.best is None:
            return True
        best = self.best["value"]
        if value != best:
            return bool(value < best if mode == "min" else value > best)
        loss, best_loss = record.get("val_loss"), self.best.get("loss")
        return loss is not None and best_loss is not None and loss < best_loss

    def _lr(self) -> float | None:
        if self.optimizer is None:
            return None
        return float(self.optimizer.param_groups[0]["lr"])


def _data_warnings(task: str, bundle: DataBundle) -> list[str]:
    """Things about the data a person should know before trusting the run."""
    split = bundle.train
    if task not in ("binary", "multiclass") or not hasattr(split, "y"):
        return []
    labels = split.y.reshape(-1)
    if labels.numel() and bool((labels == labels[0]).all()):
        return [f"every training label is {labels[0].item():g}: the model can only learn to predict that one class"]
    return []
