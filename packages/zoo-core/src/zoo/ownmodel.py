"""Models from the user's own code, back into zoo: ``zoo.save``, and ``zoo.create`` from weights for another head.

A module trained in a plain PyTorch loop becomes a checkpoint like any zoo wrote, so
``zoo predict``, ``eval``, ``export``, ``serve`` and ``zoo.load`` take it; the module is
checked against the model's own builder first (every tensor's name and shape), because a
file whose config does not rebuild its weights could never be loaded again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.buildlimit import BUILD_LIMIT, BuildLimitError, bounded_build
from zoo.checkpoint import base_metadata, load_checkpoint, save_checkpoint
from zoo.errors import UsageError, ZooError
from zoo.finetune import transfer
from zoo.metadata import MAX_LABELS
from zoo.outpath import check_output
from zoo.pluginmeta import check_plugin_metadata
from zoo.registry import build_model, check_config_keys, get_registry, model_config
from zoo.spec import ModelSpec, resolve
from zoo.weights import looks_like_path, open_weights

SUFFIX = ".safetensors"


def save_model(
    model: nn.Module,
    path: str | Path,
    name: str,
    config: Mapping[str, Any] | None = None,
    data_meta: Mapping[str, Any] | None = None,
    classes: Sequence[str] | None = None,
) -> Path:
    """Write ``model`` as a self-describing zoo checkpoint of model ``name`` and return its path.

    ``config`` holds the builder arguments the module was built with (the spec's defaults
    otherwise); ``classes`` names the output classes (and sets ``num_classes`` when the model
    has one and ``config`` does not); ``data_meta`` is what the plugin's predict reads
    (statistics, sizes). The file is read back as any checkpoint is before this returns.
    """
    spec = get_registry().model(name)
    module = getattr(model, "module", model)  # DistributedDataParallel
    if not isinstance(module, nn.Module):
        raise UsageError(f"zoo.save takes a torch.nn.Module, not a {type(model).__name__}")
    given = dict(config or {})
    check_config_keys(spec, given)
    meta_data = _json_object(dict(data_meta or {}), "data_meta")
    if classes is not None:
        meta_data["classes"] = _class_names(classes)
        if "num_classes" in spec.config and "num_classes" not in given:
            given["num_classes"] = len(meta_data["classes"])
    full = model_config(spec, _json_object(given, "config"))
    _check_fits(spec, full, module)
    out = Path(path)
    if out.suffix != SUFFIX:
        raise UsageError(f"{out}: a zoo checkpoint is a {SUFFIX} file", hint=f"save to {out.name}{SUFFIX}")
    out = check_output(out, flag="path")
    meta = base_metadata(spec, full)
    meta["dataset"] = spec.dataset
    meta["data_meta"] = meta_data
    meta["weights_from"] = "zoo.save"
    check_plugin_metadata(spec, meta, out)
    state = {k: v.detach().to("cpu") for k, v in module.state_dict().items()}
    save_checkpoint(out, state, meta)
    try:
        load_checkpoint(out)
    except ZooError:
        out.unlink(missing_ok=True)
        raise
    return out


def _class_names(classes: Sequence[Any]) -> list[str]:
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise UsageError("classes must be a list of class names", hint='classes=["cat", "dog"]')
    names = [str(label) for label in classes]
    if not names or len(names) > MAX_LABELS:
        raise UsageError(f"classes must name 1 to {MAX_LABELS} classes, got {len(names)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"classes repeat {', '.join(map(repr, repeated[:3]))}", hint="each class needs its own name")
    return names


def _json_object(value: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{what} must hold only JSON values (text, numbers, lists, objects): {exc}") from None
    return value


def _check_fits(spec: ModelSpec, config: dict[str, Any], module: nn.Module) -> None:
    """Refuse a module that the spec's builder, with this config, does not rebuild tensor for tensor."""
    builder = resolve(spec.builder)
    try:
        with torch.device("meta"), bounded_build(BUILD_LIMIT):
            shell = builder(**config)
    except (TypeError, ValueError, BuildLimitError) as exc:
        raise UsageError(f"cannot build {spec.full_name} with config {config}: {exc}") from None
    expected = shell.state_dict()
    actual = module.state_dict()
    problems = [f"missing {k}" for k in expected if k not in actual][:3]
    problems += [f"unexpected {k}" for k in actual if k not in expected][:3]
    problems += [
        f"{k} is {list(v.shape)}, the model's is {list(expected[k].shape)}"
        for k, v in actual.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ][:3]
    if problems:
        raise UsageError(
            f"this module is not {spec.full_name} with config {json.dumps(config, default=str)}: "
            + "; ".join(problems),
            hint=f"pass config= with the settings it was built with; zoo.create({spec.full_name!r}, ...) builds one",
        )


def create_from_weights(spec: ModelSpec, weights: str | Path, overrides: dict[str, Any]) -> nn.Module:
    """The model with trained ``weights`` (a tag, a file or a run), rebuilt with ``overrides``.

    Without overrides it is the checkpoint's own model. With them (``num_classes=5``) the
    model is built from the weights' config plus the overrides, every tensor whose name and
    shape fit is copied and the rest (the new head) keeps its fresh initialisation, said on
    stderr in one line.
    """
    ref = str(weights) if looks_like_path(weights) else f"{spec.full_name}:{weights}"
    loaded = open_weights(Path(weights) if isinstance(weights, Path) else ref)
    if loaded.spec.full_name != spec.full_name:
        raise UsageError(f"{ref} holds weights of {loaded.spec.full_name}, not {spec.full_name}")
    if not overrides:
        return loaded.model
    check_config_keys(spec, overrides)
    config = {**dict(loaded.metadata.get("config", {})), **overrides}
    model = build_model(spec, config)
    moved = transfer(model, loaded.model.state_dict(), what=f"the weights {ref}")
    if moved.fresh:
        sys.stderr.write(f"note: {spec.full_name} from {ref}: {moved.describe()}\n")
    return model.eval()
