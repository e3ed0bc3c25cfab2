"""Pictures of a grid search: MSE against w, and the loss surface over (w, b).

matplotlib is optional; without it the CSV of the grid is still written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _figure() -> Any | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure(figsize=(6, 4.5), dpi=100)


def plot_curve(path: Path, ws: list[float], mses: list[float], best: float) -> bool:
    """MSE against w, as the notes draw it; False when matplotlib is missing."""
    fig = _figure()
    if fig is None:
        return False
    ax = fig.add_subplot()
    ax.plot(ws, mses, marker=".")
    ax.axvline(best, color="tab:red", linestyle="--", label=f"best w = {best:g}")
    ax.set_xlabel("w")
    ax.set_ylabel("Loss (MSE)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def plot_surface(
    path: Path, ws: list[float], bs: list[float], mse: list[list[float]], best: tuple[float, float]
) -> bool:
    """The MSE surface over the (w, b) grid in 3D; ``mse[i][j]`` belongs to ``ws[i], bs[j]``."""
    fig = _figure()
    if fig is None:
        return False
    import numpy as np
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the 3d projection)

    w_grid, b_grid = np.meshgrid(np.asarray(ws), np.asarray(bs), indexing="ij")
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(w_grid, b_grid, np.asarray(mse), cmap="viridis", linewidth=0, alpha=0.85)
    ax.scatter([best[0]], [best[1]], [0.0], color="red", s=30, label=f"best w = {best[0]:g}, b = {best[1]:g}")
    ax.set_xlabel("w")
    ax.set_ylabel("b")
    ax.set_zlabel("Loss (MSE)")
    ax.set_box_aspect(None, zoom=0.88)  # keep the z label inside the picture
    ax.legend()
    fig.savefig(path)
    return True
