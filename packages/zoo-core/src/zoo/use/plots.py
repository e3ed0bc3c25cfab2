"""``curves.png`` from ``metrics.jsonl``. matplotlib is optional (``zoo-core[plots]``)."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from zoo import env
from zoo.contracts.tasks import lower_is_better
from zoo.errors import UsageError
from zoo.files.outpath import unlink_quietly, write_error
from zoo.files.readfile import read_bytes
from zoo.files.runfolder import BEST, CONFUSION, CURVES, GRID, METRICS, RunFolder

PLOTS_HINT = "pip install 'zoo-core[plots]' for curves.png, then run: zoo plot RUN_DIR"


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's epoch records; a missing log is a usage error, damaged lines a warning."""
    folder = RunFolder(run_dir)
    if not os.path.lexists(folder.metrics):
        raise UsageError(f"{folder.metrics} does not exist", hint="give a run folder made by zoo train")
    return folder.read_metrics()


def best_epoch(rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The metric that picks the best checkpoint and the epoch record where it was best.

    As training decides: the first epoch with the best value, a tie going to the lower loss.
    """
    for key in ("val_accuracy", "val_mse", "val_loss"):
        sign = 1.0 if lower_is_better(key) else -1.0
        scored = [r for r in rows if isinstance(r.get(key), (int, float))]
        if scored:
            return key, min(scored, key=lambda r: (sign * r[key], r.get("val_loss") or 0.0, r["epoch"]))
    return None


def _label(key: str, on_train: bool) -> str:
    return key.removeprefix("val_") + " (on the training data)" if on_train and key.startswith("val_") else key


def _title(run_dir: Path) -> str:
    config = RunFolder(run_dir).read_config()
    model, recipe = config.get("model"), config.get("recipe")
    head = f"{model}, recipe {recipe}" if model and recipe else str(model or "")
    return f"{head}\n{run_dir}" if head else str(run_dir)


def _read_grid(path: Path) -> tuple[list[str], list[list[float]]] | None:
    """A grid search's table: searched values in the first columns, the loss in the last."""
    import csv

    if not os.path.lexists(path):
        return None
    text = read_bytes(path, "log", "a grid search table").decode("utf-8", "replace")
    try:
        table = list(csv.reader(text.splitlines()))
        header, rows = table[0], [[float(v) for v in row] for row in table[1:] if row]
    except (csv.Error, ValueError, IndexError):
        return None
    if len(header) < 2 or not rows:
        return None
    return header, rows


def _plot_grid(ax: Any, header: list[str], rows: list[list[float]]) -> None:
    """The loss against the first searched value (the lowest over any others), best marked."""
    name, metric = header[0], header[-1]
    lowest: dict[float, float] = {}
    for row in rows:
        lowest[row[0]] = min(lowest.get(row[0], math.inf), row[-1])
    xs = sorted(lowest)
    ys = [lowest[x] for x in xs]
    ax.plot(xs, ys, marker="." if len(xs) < 200 else None, label=metric)
    i = min(range(len(ys)), key=ys.__getitem__)
    ax.plot([xs[i]], [ys[i]], "o", color="tab:red", label=f"best {name} = {xs[i]:g} ({metric} {ys[i]:.4g})")
    others = ", ".join(header[1:-1])
    ax.set_xlabel(name)
    ax.set_ylabel(f"{metric}" + (f" (lowest over {others})" if others else ""))
    ax.set_title("grid search")
    ax.grid(True, alpha=0.3)
    _legend_below(ax)


def _close(a: Any, b: Any) -> bool:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-12)


def _log_ticks(ax: Any, low: float, high: float) -> None:
    """Log axes labelled in plain numbers (0.5, 1, 2, 5 over short ranges, decades over long ones)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    subs = (1.0, 2.0, 5.0) if high / low < 1e3 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _draw_panel(
    ax: Any, rows: list[dict[str, Any]], keys: list[str], best: tuple[str, dict[str, Any]] | None, on_train: bool
) -> None:
    """One panel: the curves of ``keys`` over the epochs, the best epoch marked on each."""
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in rows]
    marker = "o" if len(rows) < 30 else None
    for key in keys:
        values = [r.get(key) for r in rows]
        if any(isinstance(v, (int, float)) for v in values):
            ax.plot(epochs, values, marker=marker, label=_label(key, on_train))
    if best is not None:
        record = best[1]
        ax.axvline(record["epoch"], color="tab:red", linestyle=":", linewidth=1)
        for k in [k for k in keys if isinstance(record.get(k), (int, float))]:
            ax.plot([record["epoch"]], [record[k]], "o", color="tab:red", markerfacecolor="none", markersize=12)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(rows) == 1:
        ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
        ax.set_xticks([epochs[0]])
    ax.grid(True, alpha=0.3)


def plot_run(run_dir: str | Path) -> Path:
    """Draw loss and metric curves (or a grid search's loss); returns the PNG's path."""
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("matplotlib is not installed", hint=PLOTS_HINT)
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    if not rows:
        raise UsageError(f"{run_dir / METRICS} is empty: nothing to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    on_train = rows[-1].get("eval_split") == "train"
    grid = _read_grid(run_dir / GRID) if len(rows) == 1 else None
    if grid is not None:
        fig, grid_ax = plt.subplots(1, 1, figsize=(6, 4.2))
        _plot_grid(grid_ax, *grid)
        return _save(fig, plt, run_dir, _title(run_dir))

    # A validation loss equal to the MSE (regression) is one curve, not two.
    same = all(_close(r.get("val_loss"), r.get("val_mse")) for r in rows)
    loss_keys = ["train_loss", "val_mse" if same and any("val_mse" in r for r in rows) else "val_loss"]
    wanted = ("val_accuracy", "val_mse", "val_r2")
    metric_keys = [k for k in wanted if k not in loss_keys and any(k in r for r in rows)]
    best = best_epoch(rows)
    fig, axes = plt.subplots(1, 1 + len(metric_keys), figsize=(5.5 * (1 + len(metric_keys)), 4), squeeze=False)
    panels = list(zip(axes[0], [loss_keys, *[[k] for k in metric_keys]]))
    for ax, keys in panels:
        _draw_panel(ax, rows, keys, best, on_train)
    loss_ax = axes[0][0]
    loss_ax.set_ylabel("loss")
    positive = [float(r[k]) for r in rows for k in loss_keys if isinstance(r.get(k), (int, float))]
    if positive and min(positive) > 0 and max(positive) / min(positive) >= 10:
        loss_ax.set_yscale("log")
        _log_ticks(loss_ax, min(positive), max(positive))
    for ax, keys in panels[1:]:
        ax.set_ylabel(_label(keys[0], on_train))
    if best is not None:
        key, record = best
        loss_ax.plot(
            [],
            [],
            "o",
            color="tab:red",
            markerfacecolor="none",
            label=f"best {_label(key, on_train)} at epoch {record['epoch']}",
        )
    _legend_below(loss_ax)
    drawn = _save(fig, plt, run_dir, _title(run_dir))
    if best is not None:
        _confusion(run_dir, best[1])
    return drawn


def _residuals(run_dir: Path) -> None:
    """residuals.png of a regression run: its best checkpoint on its own held-out rows, as zoo eval RUN."""
    from zoo.use.evalplots import eval_pictures
    from zoo.use.evaluate import evaluate_checkpoint

    pairs: list[Any] = []
    try:
        metrics = evaluate_checkpoint(run_dir / BEST, device="cpu", download=False, collect=pairs)
    except Exception:  # the data moved or the checkpoint is being replaced: curves.png still stands
        return
    eval_pictures(str(run_dir / BEST), metrics, pairs)


def _legend_below(ax: Any) -> None:
    """The legend under the axes, never over a curve."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)


def _confusion(run_dir: Path, record: dict[str, Any]) -> None:
    """confusion.png beside curves.png, from the best epoch's logged matrix and the checkpoint's class names."""
    from zoo.use.evalplots import class_names_of, confusion_matrix, draw_confusion

    matrix = confusion_matrix(record)
    if matrix is None:
        if "val_r2" in record:
            _residuals(run_dir)
        return
    classes = class_names_of(run_dir / BEST)
    split = "training rows" if record.get("eval_split") == "train" else "validation rows"
    title = f"{_title(run_dir)}\nepoch {record['epoch']}, {split}: {sum(map(sum, matrix)):,} samples"
    draw_confusion(matrix, classes, run_dir / CONFUSION, title)


def _save(fig: Any, plt: Any, run_dir: Path, title: str) -> Path:
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = run_dir / CURVES
    tmp = run_dir / f".{CURVES}.tmp-{os.getpid()}-plot"  # named so that clean_temp_files knows its writer
    try:
        fig.savefig(tmp, format="png", dpi=100)
        tmp.replace(out)
    except OSError as exc:
        unlink_quietly(tmp)
        raise write_error(out, exc) from None
    finally:
        plt.close(fig)
    return out


def plot_in_background(run_dir: Path) -> str | None:
    """Start drawing curves.png after training; a missing matplotlib is a note, never a failed run.

    The drawing runs in a detached process, so the command ends as soon as the
    weights are safe: importing matplotlib and rendering cost about as long as
    starting torch, which is more than a small model's whole training. The PNG is
    written atomically; ``zoo plot RUN_DIR`` draws it in the foreground.
    """
    if env.no_plots():
        return None
    if importlib.util.find_spec("matplotlib") is None:
        return "no curves.png: " + PLOTS_HINT
    subprocess.Popen(
        [sys.executable, "-m", "zoo.use.plots", str(run_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return None


if __name__ == "__main__":  # the background drawing started by plot_in_background
    plot_run(sys.argv[1])
