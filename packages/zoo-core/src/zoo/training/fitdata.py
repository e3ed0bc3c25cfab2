"""What ``zoo.fit`` trains on: the data a person has at hand, as the trainer's ``DataBundle``.

``(X, y)`` tensors or arrays become a ``TensorSplit`` (moved to the device once, the
fast path); a ``Dataset`` or ``DataLoader`` becomes a ``LoaderSplit`` that the trainer
feeds its own seeded batch order (so resume and several processes see the same
batches); a folder of class folders or a CSV file is read by the installed plugin that
reads it, exactly as ``zoo train --data`` would. Targets are shaped for the task once here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from zoo.contracts.data import Batch, DataBundle, DataRequest, LoaderSplit, Split, TensorSplit
from zoo.contracts.spec import resolve
from zoo.contracts.tasks import task_for
from zoo.errors import UsageError

#: Which registered dataset reads a path given to zoo.fit: a folder of class folders, or a CSV by task.
PATH_READERS = {"folder": "vision.mnist", "table": "tabular.classifier", "table-regression": "tabular.regressor"}


@dataclass
class FitData:
    """The loader a fit's dataset spec calls, the data options it declares, and facts found on the way."""

    loader: Callable[[DataRequest], DataBundle]
    options: dict[str, Any] = field(default_factory=dict)
    path_options: tuple[str, ...] = ()
    #: The batch size a given DataLoader was made with (the run's default when none is given).
    batch_size: int | None = None


def fit_data(train: Any, val: Any, task: str, classes: Sequence[str] | None) -> FitData:
    """Read ``train`` and ``val`` as ``zoo.fit`` accepts them; one UsageError for anything else."""
    if isinstance(train, (str, os.PathLike)):
        if val is not None:
            raise UsageError(
                "val= cannot be given with a folder or CSV path: its own split is used",
                hint="give train= alone (a folder with train/ and val/ subfolders keeps them)",
            )
        return _path_data(Path(train), task)
    train_split, size = _split(train, task, "train")
    val_split = _split(val, task, "val")[0] if val is not None else None
    meta: dict[str, Any] = {}
    num_classes = None
    if classes is not None:
        meta["classes"] = [str(c) for c in classes]
        num_classes = len(meta["classes"])
    if isinstance(train_split, TensorSplit) and train_split.x.dim() == 2 and task_for(task).numeric_inputs:
        meta["features"] = int(train_split.x.shape[1])
    kind = "tensors" if isinstance(train_split, TensorSplit) else "a Dataset"
    bundle = DataBundle(
        train=train_split,
        val=val_split,
        meta=meta,
        num_classes=num_classes,
        description=f"{kind} given to zoo.fit: {len(train_split)} train / "
        + (f"{len(val_split)} val" if val_split is not None else "no val split"),
    )
    return FitData(loader=lambda request: bundle, batch_size=size)


def _path_data(path: Path, task: str) -> FitData:
    from zoo.plugins.registry import get_registry

    if path.is_dir():
        name = PATH_READERS["folder"]
    elif path.is_file() and path.suffix.lower() in (".csv", ".gz"):
        name = PATH_READERS["table-regression" if task == "regression" else "table"]
    else:
        raise UsageError(
            f"{path} is neither a folder of class folders nor a .csv file",
            hint="give train= as (X, y) tensors or arrays, a Dataset, a DataLoader, a folder or a CSV path",
        )
    registry = get_registry()
    if name not in registry.datasets:
        dist = f"zoo-{name.split('.', 1)[0]}"
        raise UsageError(f"reading {path} needs the dataset {name}, which is not installed", hint=f"pip install {dist}")
    spec = registry.dataset(name)
    reader = resolve(spec.loader)

    def load(request: DataRequest) -> DataBundle:
        bundle: DataBundle = reader(request)
        bundle.config = {}  # the module is the user's: the data sizes nothing
        return bundle

    options = {**dict(spec.options), "data": str(path.resolve())}
    return FitData(loader=load, options=options, path_options=tuple(spec.path_options))


def _split(data: Any, task: str, what: str) -> tuple[Split, int | None]:
    """One split and, for a DataLoader, the batch size it was made with."""
    if isinstance(data, DataLoader):
        return _loader_split(data.dataset, task, data), data.batch_size
    if isinstance(data, Dataset):
        return _loader_split(data, task, None), None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = (_tensor(v, f"{what}[{i}]") for i, v in enumerate(data))
        if x.is_floating_point() and x.dtype != torch.float32:
            x = x.float()
        if x.shape[0] != y.shape[0]:
            raise UsageError(
                f"{what}: X has {x.shape[0]} samples but y has {y.shape[0]}", hint="give one y per row of X"
            )
        if x.shape[0] == 0:
            raise UsageError(f"{what} holds no samples")
        return TensorSplit(x, targets(y, task)), None
    raise UsageError(
        f"{what}= must be (X, y) tensors or arrays, a Dataset, a DataLoader, a folder or a CSV path, "
        f"not {type(data).__name__}"
    )


def _tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UsageError(f"{what} is not a tensor or an array of numbers: {exc}") from None


def targets(y: torch.Tensor, task: str) -> torch.Tensor:
    """Targets as the task's loss takes them: class indices, or a float column."""
    if task in ("multiclass", "sequence"):
        if y.is_floating_point() and bool((y != y.round()).any()):
            raise UsageError(f"a {task} task takes whole-number class indices as targets, got fractions")
        return y.long()
    y = y.float()
    return y.reshape(-1, 1) if y.dim() == 1 else y


def _loader_split(dataset: Any, task: str, given: DataLoader[Any] | None) -> LoaderSplit:
    """A Dataset served in the trainer's batches, with the given DataLoader's collate and workers."""
    try:
        length = len(dataset)
    except TypeError:
        raise UsageError("an iterable-style dataset has no length; zoo.fit needs a map-style Dataset") from None
    if length == 0:
        raise UsageError("the Dataset given to zoo.fit holds no samples")
    settings: dict[str, Any] = {}
    if given is not None:
        settings = {"collate_fn": given.collate_fn, "num_workers": given.num_workers, "pin_memory": given.pin_memory}

    def make(batches: Sequence[torch.Tensor]) -> Iterable[Batch]:
        loader = DataLoader(dataset, batch_sampler=[b.tolist() for b in batches], **settings)
        return _shaped(loader, task)

    return LoaderSplit(make=make, length=length)


def _shaped(loader: Iterable[Any], task: str) -> Iterator[Batch]:
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise UsageError(f"each sample of the Dataset must be an (input, target) pair, got {type(batch).__name__}")
        yield batch[0], targets(torch.as_tensor(batch[1]), task)


def first_inputs(split: Split, transform: Callable[[torch.Tensor], torch.Tensor] | None) -> tuple[Any, Any]:
    """Two samples' inputs and targets, for the check before the first step."""
    count = min(2, len(split))
    if isinstance(split, TensorSplit):
        x, y = split.x[:count], split.y[:count]
    else:
        x, y = next(iter(split.make([torch.arange(count)])))
    return (transform(x) if transform is not None else x), y
