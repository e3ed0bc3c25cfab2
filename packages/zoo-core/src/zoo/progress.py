"""What a person sees while a model trains.

On a terminal: a live bar with epoch, step, loss, samples/s and ETA. Elsewhere (a
pipe, a log file, ``--quiet``): one plain line per epoch. Reading the loss forces a
device sync, so the bar refreshes it a few times a second, not every step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from zoo.data import DataBundle
    from zoo.plan import Plan

REFRESH_S = 0.25


class Reporter:
    def __init__(self, enabled: bool, quiet: bool) -> None:
        self.enabled = enabled
        self.live = enabled and not quiet and sys.stderr.isatty()
        self.progress: Any = None
        self.task: Any = None
        self.last_refresh = 0.0
        self.samples = 0
        self.started = time.perf_counter()
        self.loss_text = "-"

    def _print(self, text: str) -> None:
        if not self.enabled:
            return
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, flush=True)

    def header(self, plan: Plan, device: torch.device, bundle: DataBundle, world: int, optimizer: bool) -> None:
        h = plan.hparams
        where = f"{device}" + (f" x {world} processes" if world > 1 else "")
        epochs = f"{h.epochs} epoch" + ("s" if h.epochs != 1 else "")
        how = f", {h.optimizer} lr {h.lr:g}" if optimizer else ""
        self._print(
            f"training {plan.spec.full_name} (recipe {plan.recipe}, method {h.method}) on {where}: "
            f"{epochs}, batch {h.batch_size or 'full'}{how}"
            + (f", schedule {h.schedule}" if h.schedule != "none" and optimizer else "")
            + (f", precision {plan.precision}" if plan.precision != "fp32" else "")
            + f", seed {plan.seed}"
        )
        if plan.weights:
            self._print(f"starting from weights {plan.weights}")
        if bundle.description:
            self._print(f"data: {bundle.description}")
        if bundle.val is None:
            self._print("note: the data set is too small to hold samples out; metrics are on the training data")
        self._print(f"run folder: {plan.run_dir}")
        if plan.resume is not None:
            self._print(
                f"resuming from {plan.run_dir}/last.safetensors: epoch {plan.resume['epoch']}, "
                f"step {plan.resume.get('step', 0)}"
            )

    def start_epoch(self, epoch: int, steps: int, done: int) -> None:
        if not self.live:
            return
        if self.progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[rate]} samples/s"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=steps, completed=done, epoch=epoch + 1, loss="-", rate="-"
            )
        else:
            self.progress.reset(self.task, total=steps, completed=done, epoch=epoch + 1, loss="-", rate="-")
        self.samples = 0
        self.started = time.perf_counter()

    def advance(self, samples: int, loss: Callable[[], torch.Tensor | None]) -> None:
        """Count a step; ``loss`` is only called (and the device synced) when the bar refreshes."""
        if not self.live or self.progress is None:
            return
        self.samples += samples
        now = time.perf_counter()
        fields: dict[str, Any] = {}
        if now - self.last_refresh >= REFRESH_S:
            self.last_refresh = now
            value = loss()
            if value is not None:
                fields["loss"] = f"{float(value.item()):.4g}"
            fields["rate"] = f"{self.samples / max(now - self.started, 1e-9):,.0f}"
        self.progress.update(self.task, advance=1, **fields)

    def end_epoch(self, record: dict[str, Any], epochs: int, report: str | None) -> None:
        parts = [f"epoch {record['epoch']}/{epochs}", f"train_loss {record['train_loss']:.6g}"]
        for name, value in record.items():
            if name.startswith("val_") and isinstance(value, float):
                parts.append(f"{name} {value:.6g}")
        if record.get("samples_per_s"):
            parts.append(f"{record['samples_per_s']:,.0f} samples/s")
        parts.append(f"{record['seconds']:.2f}s")
        self._print("  ".join(parts))
        if report:
            self._print(f"  {report}")

    def log(self, message: str) -> None:
        self._print(message)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
