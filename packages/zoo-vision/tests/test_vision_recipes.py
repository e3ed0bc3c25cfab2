"""The golden recipes' ``min_steps``: unchanged on all of MNIST, more epochs on a small subset.

The published figures and weights were made on the 60,000 training images; a recipe's
``min_steps`` must change nothing there, and still give a few thousand images enough
optimizer steps.
"""

from __future__ import annotations

import math

import pytest

from zoo.plugin import Recipe
from zoo.training.hparams import HParams, raise_limit, reach_min_steps
from zoo.use.batching import plan_batches
from zoo_vision.plugin import CNN_GOLDEN, FC_GOLDEN, SEED


def _steps(samples: int, batch_size: int) -> int:
    return len(plan_batches(samples, batch_size, 0, 0, 0, 1, shuffle=False))


GOLDEN = [*CNN_GOLDEN, *FC_GOLDEN]


@pytest.mark.parametrize("recipe", GOLDEN, ids=lambda r: f"{r.name}-{r.device}-{r.hparams['epochs']}")
def test_golden_recipes_are_unchanged_on_full_mnist_and_raised_on_a_subset(recipe: Recipe) -> None:
    h = HParams.from_dict(recipe.resolved())
    assert h.min_steps > 0
    # 60,000 images, and 55,000 (a split held out of the training images) too: nothing changes.
    for samples in (60_000, 55_000):
        assert reach_min_steps(h, _steps(samples, h.batch_size), samples) == (h, None)
    raised, note = reach_min_steps(h, _steps(4_000, h.batch_size), 4_000)
    wanted = math.ceil(h.min_steps / _steps(4_000, h.batch_size))
    assert raised.epochs == min(wanted, raise_limit(4_000)) > h.epochs and note is not None
    assert note.startswith(f"epochs: {h.epochs} -> {raised.epochs} ") and "4,000 samples" in note


def test_the_notes_recipe_stays_counted_in_epochs() -> None:
    h = HParams.from_dict(SEED.resolved())
    assert h.min_steps == 0
    assert reach_min_steps(h, 1, 100) == (h, None)
