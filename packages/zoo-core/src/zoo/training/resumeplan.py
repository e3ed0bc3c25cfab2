"""What a run folder says about the run it holds, read and checked before a resume is planned.

The checkpoint ``last.safetensors`` keeps the run's settings (model, recipe, hyperparameters,
seed, precision, data options); the folder's ``config.json`` keeps what names places on
this machine (path options, the data folder) and the run's own save and stop settings.
Only ``--epochs`` may grow, and only for a run without a learning-rate schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.contracts import settings
from zoo.contracts.spec import DatasetSpec, ModelSpec
from zoo.errors import CheckpointError, UsageError
from zoo.files.runfolder import RunFolder
from zoo.plugins.registry import get_registry
from zoo.training.hparams import HParams, check_seed
from zoo.training.runconfig import check_config, check_early_stop, check_save_every, saved_more


@dataclass(frozen=True)
class SavedRun:
    """A resumable run as its folder holds it; the plan of the resume is made from this."""

    #: The checkpoint's metadata and tensors (weights, optimizer and RNG state).
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    #: The run's own settings, from the checkpoint.
    spec: ModelSpec
    hparams: HParams
    recipe: str
    seed: int
    precision: str
    deterministic: bool
    dataset: DatasetSpec
    data_options: dict[str, Any]
    config: dict[str, Any]
    #: The data folder: the one given now, else the one the run used on this machine.
    data_dir: str | Path | None
    #: From the folder's config.json.
    save_every: int | None
    early_stop: int | None
    epochs_note: str | None
    #: Declared run settings without a field of their own, as the run's config.json holds them.
    more: dict[str, Any]


def read_saved_run(name: str, run_dir: Path, overrides: Mapping[str, Any], data_dir: str | Path | None) -> SavedRun:
    """The run in ``run_dir`` with ``overrides`` (only ``epochs``) applied; any damage names its file."""
    folder = RunFolder(run_dir)
    tensors, meta = _read_last(folder, name, run_dir)
    registry = get_registry()
    spec = registry.model(meta["model"])
    hparams = _hparams(meta, overrides, folder.last)
    dataset = registry.dataset(str(meta.get("dataset", spec.dataset)))
    # Options naming local places come from the run folder's own configuration, never the checkpoint.
    own = folder.read_config(strict=True)
    if own:
        check_config(own, folder.config)  # the same schema --config reads
    local = own.get("data_options", {})
    local = {k: v for k, v in local.items() if k in dataset.path_options and isinstance(v, str)}
    if data_dir is None and isinstance(own.get("data_dir"), str) and own["data_dir"]:
        data_dir = own["data_dir"]  # where this run found its data on this machine
    saved = {k: v for k, v in dict(meta.get("data_options", {})).items() if k in dataset.options}
    saved = {k: v for k, v in saved.items() if k not in dataset.path_options}
    note = own.get("epochs_note")
    return SavedRun(
        spec=spec,
        dataset=dataset,
        recipe=str(meta.get("recipe", spec.default_recipe)),
        hparams=hparams,
        data_options={**dataset.options, **saved, **local},
        config=dict(meta["config"]),
        seed=check_seed(meta.get("seed", 0)),
        precision=str(meta["precision"]),
        deterministic=bool(meta.get("deterministic", False)),
        data_dir=data_dir,
        save_every=check_save_every(own.get("save_every"), f"{folder.config}: 'save_every'"),
        early_stop=check_early_stop(own.get("early_stop"), f"{folder.config}: 'early_stop'"),
        # The run's own decision; an --epochs given now replaces it.
        epochs_note=note if isinstance(note, str) and "epochs" not in overrides else None,
        meta=meta,
        tensors=tensors,
        more=saved_more(own),
    )


def _read_last(folder: RunFolder, name: str, run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The folder's ``last`` checkpoint, refused unless it is a resumable run of ``name``."""
    from zoo.files.checkpoint import read_checkpoint

    if not folder.last.exists():
        raise UsageError(
            f"cannot resume: {folder.last} does not exist", hint=f"pass the run folder that holds {folder.last.name}"
        )
    tensors, meta = read_checkpoint(folder.last)
    if name and name != meta["model"]:
        raise UsageError(f"cannot resume: {run_dir} holds a run of {meta['model']!r}, not {name!r}")
    if "rng_state" not in meta:
        raise UsageError(f"cannot resume: {folder.last} has no training state")
    for key in ("epoch", "hparams", "precision"):
        if key not in meta:
            raise CheckpointError(folder.last, f"cannot resume: metadata has no {key!r} field")
    return tensors, meta


def _hparams(meta: Mapping[str, Any], overrides: Mapping[str, Any], last: Path) -> HParams:
    """The run's saved hyperparameters; ``--epochs`` may grow them, nothing else may change."""
    try:
        hparams = HParams.from_dict(dict(meta["hparams"]))
    except UsageError as exc:
        raise CheckpointError(last, f"cannot resume: saved hyperparameters are damaged: {exc.message}") from None
    free = {s.name for s in settings.named("hparams", on_resume="change")}  # epochs, declared so
    changed = sorted(k for k in overrides if k not in free and overrides[k] != hparams.as_dict().get(k))
    if changed:
        raise UsageError(
            f"cannot change {', '.join('--' + k.replace('_', '-') for k in changed)} when resuming",
            hint="only --epochs may grow; start a new run for other settings",
        )
    if "epochs" in overrides and int(overrides["epochs"]) != hparams.epochs:
        if hparams.schedule != "none":
            raise UsageError(
                f"cannot change --epochs of a run with schedule {hparams.schedule!r}: its learning rate "
                "curve was laid out for the original length",
                hint="resume without --epochs, or start a new run",
            )
        hparams = hparams.replace(epochs=overrides["epochs"])
    if int(meta["epoch"]) > hparams.epochs:
        raise CheckpointError(last, f"cannot resume: epoch {meta['epoch']} is past the run's {hparams.epochs}")
    return hparams
