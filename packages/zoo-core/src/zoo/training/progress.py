"""What a person sees while a model trains.

On a terminal: a live bar with epoch, step, loss, samples/s and ETA. Elsewhere (a
pipe, a log file): plain epoch lines, about 30 at most for a long run (every k-th
epoch, always the first and the last; ``--log-every N`` chooses). ``quiet`` prints
nothing. Reading the loss forces a device sync, so the bar refreshes it a few times
a second, not every step. A closed stdout (``| head``) stops the printing, never the run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from zoo.contracts.tasks import task_for

if TYPE_CHECKING:
    import torch

    from zoo.contracts.data import DataBundle
    from zoo.training.plan import Plan

REFRESH_S = 0.25
#: Without --log-every, a long run prints about this many epoch lines at most.
MAX_EPOCH_LINES = 30

# Where the lines go and how often, for the run being started (``output`` sets them).
_SETTINGS: dict[str, Any] = {"stream": None, "log_every": None}


@contextlib.contextmanager
def output(stream: IO[str] | None = None, log_every: int | None = None) -> Iterator[None]:
    """Send progress lines to ``stream`` (default stdout) and print every ``log_every``-th epoch."""
    saved = dict(_SETTINGS)
    _SETTINGS.update(stream=stream, log_every=log_every)
    try:
        yield
    finally:
        _SETTINGS.update(saved)


def epoch_step(epochs: int, log_every: int | None = None) -> int:
    """Print every k-th epoch: ``log_every``, or the smallest of 1, 2, 5, 10, 20, 50... giving at most
    MAX_EPOCH_LINES lines."""
    if log_every:
        return max(int(log_every), 1)
    step = 1
    while math.ceil(epochs / step) > MAX_EPOCH_LINES:
        for factor in (2, 2.5, 2):  # 1 -> 2 -> 5 -> 10 -> 20 -> 50 ...
            step = int(step * factor)
            if math.ceil(epochs / step) <= MAX_EPOCH_LINES:
                break
    return step


def silence_stdout() -> None:
    """The reader of stdout went away (``| head``): send whatever follows to the null device."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run_warnings(record: dict[str, Any] | None, task: str) -> list[str]:
    """What the last epoch's record says a person should not miss."""
    if not record or not task or not task_for(task).classifies:  # no task: the header was not shown
        return []
    if record.get("val_predicted_classes") == 1 and "val_accuracy" in record:
        split = "training" if record.get("eval_split") == "train" else "validation"
        return [
            f"every prediction on the {split} data is the same class: accuracy {record['val_accuracy']:.3g} "
            "is only that class's share; the model has not learned to tell the classes apart "
            "(try more epochs, another --lr or another recipe)"
        ]
    return []


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """One epoch in one line. Metrics on the training data (no held-out split) lose the ``val_``
    prefix; a validation loss that equals the MSE (regression) is shown once."""
    on_train = record.get("eval_split") == "train"
    parts = [f"epoch {record['epoch']}/{epochs}", f"train_loss {record['train_loss']:.6g}"]
    for name, value in record.items():
        if not name.startswith("val_") or not isinstance(value, float):
            continue
        mse = record.get("val_mse")
        if name == "val_loss" and isinstance(mse, float) and math.isclose(mse, value, rel_tol=1e-5, abs_tol=1e-12):
            continue
        parts.append(f"{name[4:] if on_train else name} {value:.6g}")
    if record.get("samples_per_s"):
        parts.append(f"{record['samples_per_s']:,.0f} samples/s")
    parts.append(f"{record['seconds']:.2f}s")
    return "  ".join(parts)


class TensorBoardLog:
    """Scalars per epoch in ``RUN/tb`` when tensorboard is installed; nothing otherwise."""

    def __init__(self, run_dir: Path) -> None:
        self.writer: Any = None
        if importlib.util.find_spec("tensorboard") is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(run_dir / "tb"))
        except Exception:  # a broken tensorboard install must not fail a run
            self.writer = None

    def add(self, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for name, value in record.items():
            if name not in ("epoch", "step") and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(name, value, global_step=int(record["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Reporter:
    def __init__(self, enabled: bool, quiet: bool) -> None:
        self.enabled = enabled
        self.quiet = quiet
        self.stream: IO[str] | None = _SETTINGS["stream"]
        self.log_every: int | None = _SETTINGS["log_every"]
        self.live = enabled and not quiet and sys.stderr.isatty()
        self.progress: Any = None
        self.task: Any = None
        self.last_refresh = 0.0
        self.samples = 0
        self.started = time.perf_counter()
        self.loss_text = "-"
        self.model_task = ""
        self.shown_first = False
        self.broken = False
        self.tensorboard: TensorBoardLog | None = None

    def _print(self, text: str) -> None:
        if not self.enabled or self.quiet or self.broken:
            return
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False)
            return
        try:
            print(text, file=self.stream or sys.stdout, flush=True)
        except BrokenPipeError:  # `zoo train ... | head`: stop printing, keep training
            self.broken = True
            if self.stream is None or self.stream is sys.stdout:
                silence_stdout()

    def header(
        self, plan: Plan, run_dir: Path, device: torch.device, bundle: DataBundle, world: int, optimizer: bool
    ) -> None:
        """The run's first lines: what trains where, on which data, into which folder."""
        h = plan.hparams
        self.model_task = plan.spec.task
        if self.enabled:
            self.tensorboard = TensorBoardLog(run_dir)
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
        if plan.epochs_note:  # a decision the plan made from the data's size (Plan.for_data)
            self._print(plan.epochs_note)
        if bundle.val is None:
            metric, _ = task_for(plan.spec.task).main_metric
            shown = metric if metric != "accuracy" else "loss and accuracy"
            verb = "is" if shown == "mse" else "are"
            self._print(
                f"note: the data set is too small to hold samples out: the {shown} below {verb} on the training data"
            )
        self._print(f"run folder: {run_dir}")
        if plan.resume is not None:
            self._print(
                f"resuming from {run_dir}/last.safetensors: epoch {plan.resume['epoch']}, "
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
        if self.tensorboard is not None:
            self.tensorboard.add(record)
        epoch = int(record["epoch"])
        step = epoch_step(epochs, self.log_every)
        if not self.shown_first or epoch % step == 0 or epoch == epochs:
            self.shown_first = True
            self._print(epoch_line(record, epochs))
            if report:
                self._print(f"  {report}")
        if epoch == epochs:
            for warning in run_warnings(record, self.model_task):
                self._print(f"warning: {warning}")

    def log(self, message: str) -> None:
        self._print(message)

    def warn(self, message: str) -> None:
        """A warning reaches stderr even with --quiet: it is about the result, not the progress."""
        if self.enabled:
            try:
                print(f"warning: {message}", file=sys.stderr, flush=True)
            except BrokenPipeError:
                pass

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
