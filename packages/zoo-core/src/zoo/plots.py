"""``curves.png`` from ``metrics.jsonl``. matplotlib is optional (``zoo-core[plots]``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.rundir import RunFolder

PLOTS_HINT = "pip install 'zoo-core[plots]' for curves.png, then run: zoo plot RUN_DIR"


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's epoch records; a missing log is a usage error, damaged lines a warning."""
    folder = RunFolder(run_dir)
    if not folder.metrics.is_file():
        raise UsageError(f"{folder.metrics} does not exist", hint="give a run folder made by zoo train")
    return folder.read_metrics()


def plot_run(run_dir: str | Path) -> Path:
    """Draw loss and metric curves; returns the PNG's path."""
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("matplotlib is not installed", hint=PLOTS_HINT)
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    if not rows:
        raise UsageError(f"{run_dir / 'metrics.jsonl'} is empty: nothing to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    metric_keys = [k for k in ("val_accuracy", "val_mse") if any(k in r for r in rows)]
    fig, axes = plt.subplots(1, 1 + len(metric_keys), figsize=(5 * (1 + len(metric_keys)), 3.6), squeeze=False)
    ax = axes[0][0]
    for key in ("train_loss", "val_loss"):
        ax.plot(epochs, [r.get(key) for r in rows], marker="o" if len(rows) < 30 else None, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log" if all((r.get("train_loss") or 0) > 0 for r in rows) else "linear")
    ax.legend()
    for ax, key in zip(axes[0][1:], metric_keys):
        ax.plot(epochs, [r.get(key) for r in rows], color="tab:green")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    out = run_dir / "curves.png"
    tmp = run_dir / ".curves.png.tmp"
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    tmp.replace(out)
    return out


def try_plot(run_dir: Path) -> str | None:
    """Plot after training; a missing matplotlib is a note, never a failed run."""
    if importlib.util.find_spec("matplotlib") is None:
        return "no curves.png: " + PLOTS_HINT
    plot_run(run_dir)
    return None
