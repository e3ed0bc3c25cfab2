"""The metric a study optimises: the one asked for, the recipe's target, or the model's main one.

Where the recipe itself takes a ``metric`` key (a run then picks its best epoch and stops
early by it), the study's metric is passed to every trial, so the trials optimise, keep
and report the same number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.contracts.tasks import metric_mode
from zoo.errors import UsageError

DIRECTIONS = ("maximize", "minimize")


def chosen_metric(plan: Any, metric: str | None, direction: str | None) -> tuple[str, bool]:
    """(record key, maximize): the recipe target's metric, else the model's main validation metric."""
    from zoo.contracts.adapter import adapter_for

    main, mode = adapter_for(plan.spec).main_metric
    chosen = plan.hparams.extra.get("metric")  # a recipe's --metric: the trials' main metric too
    if metric is None and isinstance(chosen, str) and chosen:
        metric = chosen
    if metric is None:
        recipe = plan.spec.recipe(plan.recipe, device=plan.device_kind)
        metric = recipe.target[0] if recipe.target else main
    key = metric if metric.startswith(("val_", "train_")) else f"val_{metric}"
    if direction is None:
        bare = key.removeprefix("val_").removeprefix("train_")
        direction = "minimize" if metric_mode(bare, (main, mode)) == "min" else "maximize"
    if direction not in DIRECTIONS:
        raise UsageError(f"unknown --direction {direction!r}", hint="maximize or minimize")
    return key, direction == "maximize"


def runs_take_metric(plan: Any, metric: str | None, options: Mapping[str, Any]) -> bool:
    """A ``--metric`` for a study of a recipe that has its own ``metric`` key, not fixed otherwise."""
    return bool(metric) and "metric" in plan.hparams.extra and "metric" not in options
