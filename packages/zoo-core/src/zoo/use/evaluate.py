"""Evaluation: metrics of a model over a split, during training and for ``zoo eval``."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo import env
from zoo.backend import torch_device
from zoo.contracts.adapter import ModelAdapter, adapter_for
from zoo.contracts.data import DataBundle, DataRequest, Split
from zoo.contracts.evalmode import evaluating
from zoo.contracts.options import split_overrides
from zoo.contracts.spec import resolve
from zoo.errors import UsageError
from zoo.plugins.registry import get_registry
from zoo.training.distributed import DistEnv
from zoo.training.hparams import check_seed
from zoo.use.batching import iterate, plan_batches
from zoo.use.perclass import ClassTally


def evaluate_split(
    model: nn.Module,
    adapter: ModelAdapter,
    split: Split,
    bundle: DataBundle,
    device: torch.device,
    batch_size: int,
    dist: DistEnv,
    autocast: Any = nullcontext,
) -> dict[str, Any]:
    """Loss and task metrics over a split, summed across ranks."""
    return evaluate_splits(model, adapter, [split], bundle, device, batch_size, dist, autocast)


def evaluate_splits(
    model: nn.Module,
    adapter: ModelAdapter,
    splits: list[Split],
    bundle: DataBundle,
    device: torch.device,
    batch_size: int,
    dist: DistEnv,
    autocast: Any = nullcontext,
    collect: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    tally: ClassTally | None = None,
) -> dict[str, Any]:
    """Loss and task metrics over several splits taken as one set (data the user gave, whole).

    ``collect`` receives each batch's (outputs, targets) on the CPU (zoo eval's residuals picture);
    ``tally`` counts each batch's classes (zoo eval's per-class report).
    """
    size = 0 if batch_size <= 0 else max(batch_size, 1024)
    sums: dict[str, torch.Tensor] = {}
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    with evaluating(model):
        for split in splits:
            planned = plan_batches(len(split), size, 0, 0, dist.rank, dist.world_size, shuffle=False)
            for x, y in iterate(split, planned, device, bundle.transform):
                with autocast():
                    outputs = model(x)
                outputs = outputs.float()
                if collect is not None:
                    collect.append((outputs.cpu(), y.cpu()))
                if tally is not None:
                    tally.add(outputs, y)
                loss_sum += adapter.loss(outputs, y).double() * y.shape[0]
                for k, v in adapter.batch_stats(outputs, y, bundle.num_classes).items():
                    sums[k] = sums[k] + v if k in sums else v
    sums["loss_sum"] = loss_sum
    sums = dist.all_sum(sums)
    metrics: dict[str, Any] = {"loss": float(sums["loss_sum"].item()) / max(float(sums["n"].item()), 1.0)}
    metrics.update(adapter.finalize(sums))
    return metrics


def evaluate_checkpoint(
    ref: str | Path,
    data_dir: str | Path | None = None,
    device: str = "auto",
    download: bool = True,
    data_options: dict[str, Any] | None = None,
    collect: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, Any]:
    """Metrics of a checkpoint on the held-out split of its dataset, or of the data the user names.

    Where the data lives and whether it may be downloaded come from the caller, the
    environment and the run folder's own config.json (as ``--resume`` reads it); the
    checkpoint contributes only options that name no place. A classifier's metrics end
    with ``per_class``: precision, recall, F1 and support under each class's name.
    """
    from zoo.files.weights import open_weights

    where = torch_device(device, get_registry().devices)
    loaded = open_weights(ref, device=str(where))
    meta = loaded.metadata
    dataset = get_registry().dataset(str(meta.get("dataset", loaded.spec.dataset)))
    options, given, own = _data_options(ref, loaded.path, meta, loaded.spec.full_name, dataset, data_options or {})
    request = DataRequest(options, env.data_dir(data_dir), check_seed(meta.get("seed", 0)), env.may_download(download))
    request.meta = meta.get("data_meta") if isinstance(meta.get("data_meta"), dict) else None
    bundle = resolve(dataset.loader)(request)
    _check_classes(loaded.path, meta, bundle, given)
    if own:  # the user's own data, all of it: a split carved out of it would score a fraction
        splits = [bundle.train] + ([bundle.val] if bundle.val is not None else [])
    else:
        splits = [bundle.val if bundle.val is not None else bundle.train]
    batch = meta.get("hparams", {}).get("batch_size", 0)
    adapter = adapter_for(loaded.spec)
    tally = ClassTally.for_model(adapter.task_type, request.meta or {}, bundle.num_classes)
    size = batch if isinstance(batch, int) and batch >= 0 else 0
    metrics = evaluate_splits(
        loaded.model, adapter, splits, bundle, where, size, DistEnv(), collect=collect, tally=tally
    )
    metrics["split"] = "given" if own else ("val" if bundle.val is not None else "train")
    if own:
        metrics["data"] = own
    metrics["samples"] = sum(len(s) for s in splits)
    if tally is not None:
        metrics["per_class"] = tally.report()
    return metrics


def _data_options(
    ref: str | Path, path: Path, meta: dict[str, Any], model: str, dataset: Any, data_options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The dataset options to evaluate with, the data paths given (or the run's), and the user's own data's name.

    A data file or folder is named in the checkpoint (never located): a run trained on one
    the checkpoint does not ship must be given it again. A mirror is not needed.
    """
    given = split_overrides(data_options, {"data": dataset.options})["data"]
    given = {**_run_paths(path, model, dataset.path_options), **given}
    saved = {
        k: v
        for k, v in dict(meta.get("data_options", {})).items()
        if k in dataset.options and k not in dataset.path_options and type(v) is type(dataset.options[k])
    }
    source = meta.get("data_source", {})
    missing = [
        k
        for k in dataset.path_options
        if isinstance(source, dict)
        and isinstance(source.get(k), dict)
        and ("name" in source[k] or "folder" in source[k])
        and k not in given
    ]
    if missing:
        key = missing[0]
        name, what = (source[key]["name"], "FILE") if "name" in source[key] else (source[key]["folder"], "DIR")
        raise UsageError(
            f"{path} was trained on --{key.replace('_', '-')} {str(name)!r}, which is not shipped with it",
            hint=f"pass it again: zoo eval {ref} --{key.replace('_', '-')} {what}",
        )
    own = _given_data(data_options, dataset.path_options)
    return {**dataset.options, **saved, **given, **(_whole(dataset.options) if own else {})}, given, own


def _given_data(data_options: dict[str, Any], path_options: tuple[str, ...]) -> str:
    """The name of the file or folder the user named as data ("" when none: the dataset's own split)."""
    for key in path_options:
        value = data_options.get(key, data_options.get(key.replace("_", "-")))
        if isinstance(value, (str, Path)) and str(value) and Path(value).exists():
            return Path(value).name or str(value)
    return ""


def _whole(declared: Mapping[str, Any]) -> dict[str, Any]:
    """Dataset options that carve nothing out: no held-out share, no folds."""
    whole: dict[str, Any] = {}
    if "val_fraction" in declared:
        whole["val_fraction"] = type(declared["val_fraction"])(0)
    if "folds" in declared:
        whole["folds"] = type(declared["folds"])(0)
    if "fold" in declared:
        whole["fold"] = type(declared["fold"])(0)
    return whole


def _run_paths(checkpoint: Path, model: str, path_options: tuple[str, ...]) -> dict[str, Any]:
    """The data paths of the run that made ``checkpoint``, from the config.json beside it (same model only)."""
    from zoo.files.runfolder import RunFolder

    own = RunFolder(checkpoint.parent).read_config()
    if own.get("model") != model or not isinstance(own.get("data_options"), dict):
        return {}
    return {k: v for k, v in own["data_options"].items() if k in path_options and isinstance(v, str) and v}


def _check_classes(path: Path, meta: dict[str, Any], bundle: DataBundle, given: dict[str, Any]) -> None:
    """Refuse data whose class names differ from the model's: its scores would be read wrongly."""
    trained = meta.get("data_meta", {}).get("classes")
    found = bundle.meta.get("classes") if isinstance(bundle.meta, dict) else None
    if not isinstance(trained, list) or not isinstance(found, list) or list(trained) == list(found):
        return
    where = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items()) or "its dataset"
    missing = [str(c) for c in found if c not in trained]
    detail = f"{', '.join(missing[:5])} unknown to the model" if missing else "in another order or a subset"
    raise UsageError(
        f"the data of {where} has classes {_short(found)}, but {path} was trained on {_short(trained)} ({detail})",
        hint="evaluate on data with the model's classes (the same folder names)",
    )


def _short(names: list[Any]) -> str:
    shown = ", ".join(str(n) for n in names[:8])
    return f"[{shown}{', ...' if len(names) > 8 else ''}] ({len(names)})"
