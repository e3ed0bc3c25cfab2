"""Models from the user's own code, back into zoo: ``zoo.save`` and the checks it makes.

A module trained in a plain PyTorch loop becomes a checkpoint like any zoo wrote, so
``zoo predict``, ``eval``, ``export``, ``serve`` and ``zoo.load`` take it; the module is
checked against the model's own builder first (every tensor's name and shape), because a
file whose config does not rebuild its weights could never be loaded again.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.contracts.metadata import MAX_LABELS
from zoo.contracts.spec import ModelSpec, Recipe, resolve
from zoo.contracts.tasks import TASKS, task_for
from zoo.errors import UsageError
from zoo.files.buildlimit import BUILD_LIMIT, BuildLimitError, bounded_build
from zoo.files.checkpoint import base_metadata, load_checkpoint, save_checkpoint
from zoo.files.outpath import check_output
from zoo.plugins.factory import check_config_keys, model_config
from zoo.plugins.local import FIT, FIT_DISTRIBUTION, builder_defaults, check_builder_ref
from zoo.plugins.meta import check_plugin_metadata
from zoo.plugins.registry import get_registry
from zoo.version import __version__

SUFFIX = ".safetensors"


def save_model(
    model: nn.Module,
    path: str | Path,
    *,
    name: str | None,
    config: Mapping[str, Any] | None,
    data_meta: Mapping[str, Any] | None,
    classes: Sequence[str] | None,
    builder: str | None,
    task: str | None,
) -> Path:
    """Write ``model`` as a self-describing zoo checkpoint of model ``name`` and return its path.

    ``config`` holds the builder arguments the module was built with (the spec's defaults
    otherwise); ``classes`` names the output classes (and sets ``num_classes`` when the model
    has one and ``config`` does not); ``data_meta`` is what the plugin's predict reads
    (statistics, sizes). ``builder`` (``"pkg.module:function"``, with ``task``) stands for a
    model no plugin registers. The file is read back as any checkpoint is before this returns.
    """
    made = getattr(model, "_zoo_made", None)  # (name, config) of a module from zoo.create
    if isinstance(made, tuple) and builder is None and name in (None, made[0]):
        name, config = made[0], ({**made[1], **config} if config is not None else made[1])
    spec = _spec_to_save(name, builder, task, config)
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
    save_checkpoint(out, state, meta, check=load_checkpoint)  # loaded whole before it replaces a file
    return out


def _spec_to_save(name: str | None, builder: str | None, task: str | None, config: Any) -> ModelSpec:
    """The registered model ``name``, or one rebuilt by ``builder``; exactly one must be given."""
    if (name is None) == (builder is None):
        raise UsageError(
            "zoo.save needs name= (a registered model, such as 'vision.cnn') or builder= "
            "('package.module:function' that returns the module), not " + ("both" if name else "neither"),
            hint="zoo list shows the registered models",
        )
    if name is not None:
        return get_registry().model(name)
    assert builder is not None
    if task is None:
        raise UsageError("zoo.save with builder= needs task= too", hint=f"one of {', '.join(TASKS)}")
    task_for(task)
    check_builder_ref(builder, "zoo.save")
    short = re.sub(r"[^a-z0-9_-]+", "-", builder.rpartition(":")[2].rpartition(".")[2].lower()).strip("-") or "model"
    return ModelSpec(
        name=short,
        summary=f"rebuilt by {builder}",
        task=task,
        builder=builder,
        dataset="",
        recipes=(Recipe("default", "trained in the user's own loop", {}),),
        config=_builder_config(builder, config),
        namespace=FIT,
        distribution=FIT_DISTRIBUTION,
        version=__version__,
    )


def _builder_config(builder: str, given: Any) -> dict[str, Any]:
    """The builder's keyword defaults and the given keys: a typo fails when the builder runs, naming it."""
    return {**builder_defaults(_resolved_builder(builder)), **dict(given or {})}


def _resolved_builder(builder: str) -> Any:
    found = resolve(builder)
    if not callable(found):
        raise UsageError(f"the builder {builder!r} is a {type(found).__name__}, not a function or class")
    return found


def check_module_fits(module: nn.Module, builder: str, config: dict[str, Any]) -> None:
    """Refuse ``zoo.fit(builder=, config=)`` when the builder does not rebuild this module tensor for tensor."""
    spec = ModelSpec(
        name=builder,
        summary="",
        task="regression",
        builder=builder,
        dataset="",
        recipes=(Recipe("default", "", {}),),
        config=_builder_config(builder, config),
    )
    _check_fits(spec, model_config(spec, config), module)


def _class_names(classes: Sequence[Any]) -> list[str]:
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise UsageError("classes must be a list of class names", hint='classes=["cat", "dog"]')
    if not classes or len(classes) > MAX_LABELS:
        raise UsageError(f"classes must name 1 to {MAX_LABELS} classes, got {len(classes)}")
    names = [str(label) for label in classes]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)  # linear, not quadratic
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
    if not isinstance(shell, nn.Module):
        raise UsageError(f"{spec.builder} returned a {type(shell).__name__}, not a torch.nn.Module")
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
            hint="pass config= with the settings it was built with; "
            + (
                f"{spec.builder}(**config) builds one"
                if ":" in spec.full_name
                else f"zoo.create({spec.full_name!r}, ...) builds one"
            ),
        )
