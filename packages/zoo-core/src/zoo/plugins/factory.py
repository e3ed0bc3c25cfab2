"""The model factory: a registered spec (and optionally trained weights) made into a module.

The registry only says what exists; making a module is here, beside opening weights, so
``zoo.create``, training, ``zoo info`` and the plugin kit build models one way: the
builder under zoo's build limit, bad arguments as usage errors.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from zoo.contracts.spec import ModelSpec, resolve
from zoo.errors import UsageError, did_you_mean
from zoo.files.buildlimit import BUILD_LIMIT, BuildLimitError, bounded_build


def model_config(spec: ModelSpec, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The builder arguments: the spec's defaults with known keys overridden."""
    return {**dict(spec.config), **dict(overrides or {})}


def check_config_keys(spec: ModelSpec, given: Mapping[str, Any]) -> None:
    """Keyword arguments of ``zoo.create`` must be builder config keys the spec declares."""
    known = sorted(spec.config)
    for key in given:
        if key not in spec.config:
            close = did_you_mean(key, known)
            hint = close + " " if close else ""
            raise UsageError(
                f"{spec.full_name} has no config keyword argument {key!r}",
                hint=hint + "valid: " + (", ".join(known) or "none"),
            )


def build(spec: ModelSpec, overrides: Mapping[str, Any] | None = None) -> Any:
    """Build a model on the CPU with fresh weights; bad builder arguments become a usage error."""
    builder = resolve(spec.builder)
    config = model_config(spec, overrides)
    try:
        with bounded_build(BUILD_LIMIT):
            return builder(**config)
    except TypeError as exc:
        raise UsageError(f"cannot build {spec.full_name} with {config}: {exc}") from None
    except BuildLimitError as exc:
        raise UsageError(
            f"{spec.full_name} with {config} asks for more than {exc.limit:,} parameters, buffers and submodules",
            hint="use smaller model options (fewer layers); zoo's build limit bounds what one command may cost",
        ) from None


def create(spec: ModelSpec, weights: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Any:
    """``zoo.create``: the model built with ``overrides``, or started from trained ``weights``."""
    given = dict(overrides or {})
    if weights is not None:
        return _from_weights(spec, weights, given)
    check_config_keys(spec, given)
    model = build(spec, given)
    remember_made(model, spec.full_name, given)  # zoo.save then needs no name= or config=
    return model


def _from_weights(spec: ModelSpec, weights: str | Path, overrides: dict[str, Any]) -> nn.Module:
    """The model with trained ``weights`` (a tag, a file or a run), rebuilt with ``overrides``.

    Without overrides it is the checkpoint's own model. With them (``num_classes=5``) the
    model is built from the weights' config plus the overrides, every tensor whose name and
    shape fit is copied and the rest (the new head) keeps its fresh initialisation, said on
    stderr in one line.
    """
    from zoo.files.weights import looks_like_path, open_weights
    from zoo.training.finetune import transfer

    ref = str(weights) if looks_like_path(weights) else f"{spec.full_name}:{weights}"
    loaded = open_weights(Path(weights) if isinstance(weights, Path) else ref)
    if loaded.spec.full_name != spec.full_name:
        raise UsageError(f"{ref} holds weights of {loaded.spec.full_name}, not {spec.full_name}")
    config = {**dict(loaded.metadata.get("config", {})), **overrides}
    if not overrides:
        remember_made(loaded.model, spec.full_name, config)
        return loaded.model
    check_config_keys(spec, overrides)
    model = build(spec, config)
    moved = transfer(model, loaded.model.state_dict(), what=f"the weights {ref}")
    if moved.fresh:
        sys.stderr.write(f"note: {spec.full_name} from {ref}: {moved.describe()}\n")
    remember_made(model, spec.full_name, config)
    return model.eval()


def remember_made(model: nn.Module, name: str, config: Mapping[str, Any]) -> None:
    """Mark a module from ``zoo.create`` with its model and config, so ``zoo.save`` needs neither again."""
    model.__dict__["_zoo_made"] = (name, dict(config))
