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

    fig = Figure(figsize=(11, 4.8), dpi=100, layout="constrained")
    w_grid, b_grid = np.meshgrid(np.asarray(ws), np.asarray(bs), indexing="ij")
    z = np.asarray(mse)
    i, j = np.unravel_index(int(np.argmin(z)), z.shape)
    lowest = float(z[i, j])
    label = f"best w = {best[0]:g}, b = {best[1]:g} (MSE {lowest:.3g})"
    shown, levels, norm = surface_levels(z)

    grid = fig.add_gridspec(1, 2, width_ratios=(1.15, 1))
    surface_ax = fig.add_subplot(grid[0, 0], projection="3d")
    surface_ax.plot_surface(w_grid, b_grid, z, cmap="viridis", norm=norm, linewidth=0, alpha=0.85)
    surface_ax.scatter([best[0]], [best[1]], [lowest], color="red", s=40, depthshade=False, label=label)
    surface_ax.plot(
        [best[0], best[0]], [best[1], best[1]], [lowest, float(z.max())], color="red", linewidth=1
    )
    surface_ax.set_xlabel("w")
    surface_ax.set_ylabel("b")
    surface_ax.set_zlabel("Loss (MSE)")
    surface_ax.set_title("loss surface")
    surface_ax.set_box_aspect(None, zoom=0.9)  # keep the z label inside the picture

    contour_ax = fig.add_subplot(grid[0, 1])
    filled = contour_ax.contourf(w_grid, b_grid, shown, levels=levels, cmap="viridis", norm=norm)
    contour_ax.contour(w_grid, b_grid, shown, levels=levels[::2], colors="white", linewidths=0.5, alpha=0.6)
    contour_ax.plot(
        [best[0]], [best[1]], marker="*", color="red", markersize=14, linestyle="none", label=label
    )
    contour_ax.set_xlabel("w")
    contour_ax.set_ylabel("b")
    contour_ax.set_title("contours, seen from above (log scale)")
    contour_ax.legend(loc="upper right", fontsize=8)
    bar = fig.colorbar(filled, ax=contour_ax, label="Loss (MSE)", shrink=0.9, pad=0.02)
    if norm is not None:
        from matplotlib.ticker import LogLocator, StrMethodFormatter

        bar.set_ticks(LogLocator(subs=(1.0, 2.0, 5.0)).tick_values(norm.vmin, norm.vmax))
        bar.ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        bar.ax.set_ylim(norm.vmin, norm.vmax)
    fig.savefig(path)
    return True


def surface_levels(z: Any) -> tuple[Any, Any, Any]:
    """The grid clipped to a floor, contour levels spaced evenly in log(MSE), and their colour norm.

    The MSE of a grid grows with the square of the distance from the best point, so even
    levels would paint the whole valley in one colour; log spacing resolves it. The floor is
    a thousandth of the maximum (the minimum itself may be 0, which a log scale cannot show).
    """
    import numpy as np
    from matplotlib.colors import LogNorm

    high = float(np.max(z))
    floor = max(float(np.min(z)), high * 1e-3, float(np.finfo(np.float64).tiny))
    if not high > floor:  # a flat grid: one band around its value
        return z, np.array([high - 1.0, high + 1.0]), None
    return np.maximum(z, floor), np.geomspace(floor, high, 16), LogNorm(vmin=floor, vmax=high)
