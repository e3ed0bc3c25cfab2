"""The loss-surface picture resolves the valley around the best point."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("matplotlib")

from zoo_tabular.plots import surface_levels  # noqa: E402


def test_surface_levels_resolve_the_valley_of_a_quadratic_loss() -> None:
    w, b = np.meshgrid(np.linspace(0, 4, 41), np.linspace(0, 4, 41), indexing="ij")
    z = (w - 2) ** 2 * 6 + (b - 1) ** 2 * 3 + (w - 2) * (b - 1) * 4  # zero at the best point
    shown, levels, norm = surface_levels(z)
    assert norm is not None and shown.min() > 0  # the zero minimum is clipped, not masked
    assert levels[0] == pytest.approx(z.max() * 1e-3) and levels[-1] == pytest.approx(z.max())
    # Evenly spaced levels would put one level below a tenth of the maximum; log spacing puts most there.
    assert (levels < z.max() / 10).sum() > len(levels) / 2


def test_surface_levels_of_a_flat_grid_are_one_band() -> None:
    shown, levels, norm = surface_levels(np.full((3, 3), 2.0))
    assert norm is None and list(levels) == [1.0, 3.0] and shown.shape == (3, 3)
