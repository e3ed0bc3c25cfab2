"""``zoo.fit``: any ``nn.Module`` trained by the same ``Trainer`` as ``zoo train``.

The module becomes a model of namespace ``fit`` whose builder hands back the module
itself, and the data a dataset whose loader hands back what was given; both are
registered in this process only, so planning, the run folder, metrics, save points,
resume, callbacks and ``zoo runs`` are the ordinary ones. A ``builder=`` is recorded in
every checkpoint so that ``zoo predict``, ``eval``, ``export`` and ``serve`` can rebuild the
module in another process; it is checked against the module first, as ``zoo.save`` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.contracts import settings as run_settings
from zoo.contracts.data import DataBundle, DataRequest, TensorSplit
from zoo.contracts.evalmode import run_eval
from zoo.contracts.options import suggest
from zoo.contracts.spec import DatasetSpec, ModelSpec, Recipe
from zoo.contracts.tasks import task_for
from zoo.errors import UsageError
from zoo.plugins.local import FIT, FIT_DISTRIBUTION, GivenModule, add_local, check_builder_ref
from zoo.training.fitdata import FitData, first_inputs, fit_data


def keywords() -> list[str]:
    """Every keyword ``zoo.fit`` passes to the run: the settings ``zoo.train`` takes (``zoo.contracts.settings``)."""
    return run_settings.keywords()


def prepare(
    module: nn.Module,
    train: Any,
    val: Any,
    task: str,
    classes: Sequence[Any] | None,
    builder: str | None,
    config: Mapping[str, Any] | None,
    name: str | None,
    run_options: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Register ``module`` and its data; the model name and keywords to train it with."""
    from zoo.training.ownmodel import _class_names, _json_object, check_module_fits

    if not isinstance(module, nn.Module):
        raise UsageError(f"zoo.fit trains a torch.nn.Module, not a {type(module).__name__}")
    task_for(task)
    names = _class_names(classes) if classes is not None else None
    given = _json_object(dict(config or {}), "config")
    if builder is not None:
        check_builder_ref(builder, "zoo.fit")
        check_module_fits(module, builder, given)
    elif config:
        raise UsageError("config= describes the arguments of builder=, which is not given", hint="give builder= too")
    data = fit_data(train, val, task, names)
    options = _checked_keywords(run_options, data)
    short = _short_name(name, builder, module)
    spec = ModelSpec(
        name=short,
        summary=f"{type(module).__name__} trained with zoo.fit",
        task=task,
        builder=GivenModule(module, builder),
        dataset=f"{FIT}.{short}",
        recipes=(Recipe("default", "zoo.fit's defaults", {}),),
        config=given,
    )
    dataset = DatasetSpec(
        name=short,
        summary=f"the data given to zoo.fit for {short}",
        loader=_checked_loader(data, module, task),
        options=data.options,
        path_options=data.path_options,
    )
    add_local(FIT, FIT_DISTRIBUTION, dataset)
    add_local(FIT, FIT_DISTRIBUTION, spec)
    if data.batch_size is not None and "batch_size" not in options:
        options["batch_size"] = data.batch_size
    return f"{FIT}.{short}", options


def _checked_keywords(run_options: dict[str, Any], data: FitData) -> dict[str, Any]:
    known = [*keywords(), *data.options]
    for key in run_options:
        if key not in known:
            raise UsageError(f"zoo.fit has no keyword argument {key!r}", hint=suggest(key, known, repr))
    return dict(run_options)


def _short_name(name: str | None, builder: str | None, module: nn.Module) -> str:
    """The model's short name: given, else the builder's function or the module's class, lower case."""
    raw = name or (builder.rpartition(":")[2].rpartition(".")[2] if builder else type(module).__name__)
    short = re.sub(r"[^a-z0-9_-]+", "-", raw.lower()).strip("-")
    if not short:
        raise UsageError(f"name {raw!r} has no letters or digits", hint='name="mynet"')
    return short[:60]


def _checked_loader(data: FitData, module: nn.Module, task: str) -> Any:
    def load(request: DataRequest) -> DataBundle:
        bundle = data.loader(request)
        check_outputs(module, task, bundle)
        return bundle

    return load


def check_outputs(module: nn.Module, task: str, bundle: DataBundle) -> None:
    """Run two samples through the module and refuse, naming both shapes, outputs the task cannot use."""
    x, y = first_inputs(bundle.train, bundle.transform)
    device = next((t.device for t in (*module.parameters(), *module.buffers())), torch.device("cpu"))
    try:
        outputs = run_eval(module, x.to(device))
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(
            f"the module cannot take the inputs: it was given a batch of shape {tuple(x.shape)} and raised: {first}",
            hint="make the module's first layer fit one sample of the data",
        ) from None
    if not isinstance(outputs, torch.Tensor):
        raise UsageError(f"the module returned a {type(outputs).__name__}; zoo.fit needs one tensor of outputs")
    labels = [s.y for s in (bundle.train, bundle.val) if isinstance(s, TensorSplit)] or [y]
    top = max(int(t.max().item()) for t in labels) if task == "multiclass" else 0
    wanted = _expected_shape(task, tuple(x.shape), y, bundle.num_classes or top + 1, outputs)
    if tuple(outputs.shape) != wanted[0]:
        shown = "(" + ", ".join(str(d) for d in wanted[0]) + ("" if len(wanted[0]) != 1 else ",") + ")"
        raise UsageError(
            f"the module's output does not fit the {task} task: for inputs {tuple(x.shape)} it returned "
            f"{tuple(outputs.shape)}, the task needs {shown}" + (f" ({wanted[1]})" if wanted[1] else ""),
            hint=f"change the module's last layer, or pick the task that reads these outputs ({_tasks_hint()})",
        )


def _expected_shape(
    task: str, inputs: tuple[int, ...], y: torch.Tensor, num_classes: int | None, outputs: torch.Tensor
) -> tuple[tuple[int | str, ...], str]:
    """The output shape the task needs for this batch, and what it means."""
    n = inputs[0]
    if task == "multiclass":
        assert num_classes is not None
        return (n, num_classes), f"one score per class; the labels go up to {num_classes - 1}"
    if task == "sequence":
        vocab: int | str = outputs.shape[-1] if outputs.dim() == 3 else "V"
        return (n, *tuple(y.shape[1:]), vocab), "a score per vocabulary entry at every position"
    return (n, *tuple(y.shape[1:])), ""


def _tasks_hint() -> str:
    from zoo.contracts.tasks import TASKS

    return ", ".join(TASKS)


def load_into(path: str | Path, module: nn.Module, device: str = "cpu") -> Any:
    """A checkpoint's weights loaded into ``module`` (for files that record no builder): a LoadedModel."""
    from zoo.files.checkpoint import read_checkpoint, restore_weights
    from zoo.files.weights import checkpoint_file
    from zoo.use.loaded import LoadedModel

    file = checkpoint_file(path)
    tensors, meta = read_checkpoint(file)
    restore_weights(module, tensors, file, str(meta["model"]))
    namespace, _, short = str(meta["model"]).partition(".")
    spec = ModelSpec(
        name=short or namespace,
        summary=f"{type(module).__name__} loaded into the given module",
        task=str(meta.get("task", "")),
        builder=GivenModule(module),
        dataset=str(meta.get("dataset", "")),
        recipes=(Recipe("default", "the recipe it was trained with", {}),),
        config=dict(meta.get("config") or {}),
        namespace=namespace if short else "",
        distribution=str(meta.get("plugin", "")),
    )
    module.to(device).eval()
    return LoadedModel(model=module, metadata=meta, spec=spec, path=file)
