"""Pictures of a model's errors: a classifier's ``confusion.png`` (counts and row-normalised, class
names on the axes), from the confusion matrix that evaluation logs, and a regressor's
``residuals.png`` (predicted against true, residuals against predicted, r2 in the title), from
``zoo eval``'s predictions. matplotlib is optional."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zoo.files.runfolder import BEST, CONFUSION, METRICS, RESIDUALS

#: The most points a residuals picture draws.
MAX_POINTS = 100_000


def confusion_matrix(record: dict[str, Any], prefix: str = "val_") -> list[list[int]] | None:
    """The square matrix of counts in a metrics record, or None when it has none (or a damaged one)."""
    value = record.get(f"{prefix}confusion", record.get("confusion"))
    if not isinstance(value, list) or not value or not all(isinstance(r, list) and len(r) == len(value) for r in value):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for r in value for v in r):
        return None
    return value


def class_names_of(checkpoint: Path) -> list[str] | None:
    """The class names a checkpoint's header holds (only the header is read), or None."""
    import json

    from zoo.files.safefile import read_header

    try:
        _, raw = read_header(checkpoint)
        found = json.loads(raw.get("data_meta", "{}")).get("classes")
    except Exception:  # no checkpoint there, or not one zoo reads: numbered classes
        return None
    return [str(c) for c in found] if isinstance(found, list) else None


def draw_confusion(matrix: list[list[int]], classes: list[str] | None, out: Path, title: str) -> Path:
    """Counts beside row-normalised rates (each true class sums to 1), written atomically to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(matrix)
    names = [str(c)[:20] for c in classes] if classes and len(classes) == n else [str(i) for i in range(n)]
    rates = [[v / max(sum(row), 1) for v in row] for row in matrix]
    side = min(4 + 0.45 * n, 14)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1, side))
    for ax, values, what in ((axes[0], matrix, "counts"), (axes[1], rates, "share of each true class")):
        ax.imshow(values, cmap="Blues", vmin=0)
        ax.set_title(what, fontsize=10)
        ax.set_xticks(range(n), names, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
        ax.set_yticks(range(n), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if n <= 20:
            top = max((max(r) for r in values), default=0) or 1
            for i in range(n):
                for j in range(n):
                    v = values[i][j]
                    text = f"{v:.2f}" if isinstance(v, float) else str(v)
                    ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if v > top / 2 else "black")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, out)
    return out


def eval_pictures(ref: str, metrics: dict[str, Any], pairs: list[Any] | None = None) -> str | None:
    """``zoo eval``: confusion.png (classes) or residuals.png (one regression output) into the run
    folder that ``ref`` names (or holds its checkpoint); ``pairs`` are the (outputs, targets) batches.

    Returns a line saying what was drawn, or None (nothing to draw, no run folder, no matplotlib).
    """
    import importlib.util

    matrix = confusion_matrix(metrics, prefix="")
    path = Path(ref)
    folder = path if path.is_dir() else path.parent
    if not (folder / METRICS).is_file() or importlib.util.find_spec("matplotlib") is None:
        return None
    where = metrics.get("data") or metrics.get("split", "")
    title = f"{folder}\n{where}: {metrics.get('samples', '?')} samples"
    if matrix is None:
        return _residuals(folder / RESIDUALS, metrics, pairs or [], title)
    out = folder / CONFUSION
    if out.is_symlink():
        return None
    classes = class_names_of(path if path.is_file() else folder / BEST)
    draw_confusion(matrix, classes, out, title)
    return f"confusion matrix: {out}"


def _residuals(out: Path, metrics: dict[str, Any], pairs: list[Any], title: str) -> str | None:
    """Predicted against true, and residuals against predicted, for a model with one output per row."""
    import torch

    if "mse" not in metrics or not pairs or out.is_symlink():
        return None
    pred = torch.cat([o.reshape(len(o), -1) for o, _ in pairs])
    true = torch.cat([t.reshape(len(t), -1) for _, t in pairs]).float()
    if pred.shape[1] != 1 or true.shape != pred.shape:
        return None
    pred, true = pred[:, 0][:MAX_POINTS], true[:, 0][:MAX_POINTS]
    r2 = metrics.get("r2")
    if r2 is None:
        spread = float(((true - true.mean()) ** 2).sum())
        r2 = 1 - float(((pred - true) ** 2).sum()) / spread if spread > 0 else None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
    axes[0].scatter(true, pred, s=6, alpha=0.5)
    axes[0].plot([low, high], [low, high], color="tab:red", linewidth=1, label="predicted = true")
    axes[0].set_xlabel("true")
    axes[0].set_ylabel("predicted")
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False, fontsize=8)
    axes[1].scatter(pred, true - pred, s=6, alpha=0.5)
    axes[1].axhline(0, color="tab:red", linewidth=1)
    axes[1].set_xlabel("predicted")
    axes[1].set_ylabel("true - predicted")
    shown = f"r2 {r2:.4f}" if isinstance(r2, float) else "r2 undefined (constant target)"
    fig.suptitle(f"{title}\n{shown}, mse {metrics['mse']:.4g}", fontsize=10)
    fig.tight_layout()
    _save(fig, out)
    return f"residuals: {out}"


def _save(fig: Any, out: Path) -> None:
    """Write the figure beside ``out`` and rename it over: a reader never sees half a PNG."""
    import matplotlib.pyplot as plt

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-plot")
    try:
        fig.savefig(tmp, format="png", dpi=100)
        tmp.replace(out)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
