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
    ax.set_title("MSE for each w of the grid")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def plot_surface(
    path: Path, ws: list[float], bs: list[float], mse: list[list[float]], best: tuple[float, float]
) -> bool:
    """The MSE over the (w, b) grid: a 3-D surface beside a contour map, one colour bar for both,
    the best point marked on each; ``mse[i][j]`` belongs to ``ws[i], bs[j]``."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    import numpy as np
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the 3d projection)

    fig = Figure(figsize=(12.5, 5), dpi=100)
    w_grid, b_grid = np.meshgrid(np.asarray(ws), np.asarray(bs), indexing="ij")
    z = np.asarray(mse)
    i, j = np.unravel_index(int(np.argmin(z)), z.shape)
    lowest = float(z[i, j])
    label = f"best w = {best[0]:g}, b = {best[1]:g} (MSE {lowest:.3g})"

    surface_ax = fig.add_subplot(1, 2, 1, projection="3d")
    surface = surface_ax.plot_surface(w_grid, b_grid, z, cmap="viridis", linewidth=0, alpha=0.8)
    surface_ax.scatter([best[0]], [best[1]], [lowest], color="red", s=40, depthshade=False, label=label)
    surface_ax.plot(
        [best[0], best[0]], [best[1], best[1]], [lowest, float(z.max())], color="red", linewidth=1
    )
    surface_ax.set_xlabel("w")
    surface_ax.set_ylabel("b")
    surface_ax.set_zlabel("Loss (MSE)")
    surface_ax.set_title("loss surface")
    surface_ax.set_box_aspect(None, zoom=0.85)  # keep the z label inside the picture

    contour_ax = fig.add_subplot(1, 2, 2)
    filled = contour_ax.contourf(w_grid, b_grid, z, levels=20, cmap="viridis")
    contour_ax.contour(w_grid, b_grid, z, levels=10, colors="white", linewidths=0.5, alpha=0.6)
    contour_ax.plot(
        [best[0]], [best[1]], marker="*", color="red", markersize=14, linestyle="none", label=label
    )
    contour_ax.set_xlabel("w")
    contour_ax.set_ylabel("b")
    contour_ax.set_title("contours, seen from above")
    contour_ax.legend(loc="upper right", fontsize=8)
    fig.subplots_adjust(left=0.0, right=0.9, wspace=0.25)
    fig.colorbar(filled, ax=[surface_ax, contour_ax], label="Loss (MSE)", shrink=0.9, pad=0.03)
    del surface
    fig.savefig(path)
    return True
