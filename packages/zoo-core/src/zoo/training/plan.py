"""The plan of a run: everything decided before any data is touched.

``make_plan`` turns a model name and the user's options (or a run folder to resume)
into a checked ``Plan``: recipe chosen for the device, typed hyperparameters, data
options, builder config, seed, precision, device. Every mistake the user can make is
found here, before a folder is created or a byte of data is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import env
from zoo.contracts.metadata import PRECISIONS
from zoo.contracts.options import split_overrides
from zoo.contracts.spec import BASE_HPARAMS, DatasetSpec, ModelSpec
from zoo.errors import CheckpointError, UsageError
from zoo.files.runfolder import RunFolder
from zoo.files.weights import is_model_name, looks_like_path, sha256_of
from zoo.plugins.registry import get_registry, warn_problems
from zoo.training.distributed import DistEnv
from zoo.training.hparams import HParams, check_seed
from zoo.training.runconfig import RunOptions, check_config, check_early_stop, check_save_every

if TYPE_CHECKING:
    import torch

    from zoo.backend import DeviceBackend


@dataclass
class Plan:
    """A checked description of one run."""

    spec: ModelSpec
    dataset: DatasetSpec
    recipe: str
    hparams: HParams
    data_options: dict[str, Any]
    config: dict[str, Any]
    seed: int
    data_dir: Path
    run_dir: Path | None
    precision: str
    deterministic: bool
    quiet: bool
    download: bool
    backend: DeviceBackend
    device_index: int
    weights: str | None = None
    #: The data folder the user named (--data-dir), kept in config.json so that a resume finds it.
    given_data_dir: Path | None = None
    #: Save ``last`` every N epochs (0: only at the end and on interrupt); None: every few seconds.
    save_every: int | None = None
    #: Early stopping's patience in epochs (None or 0: off); a resumed run keeps its own.
    early_stop: int | None = None
    #: The user set --epochs (or a --config file did): the recipe's min_steps raises nothing then.
    epochs_given: bool = False
    #: Why the epochs differ from the recipe's (``hparams.reach_min_steps``); kept in config.json.
    epochs_note: str | None = None
    resume: dict[str, Any] | None = None
    resume_tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def device_kind(self) -> str:
        return device_kind(self.backend)

    def settings(self) -> dict[str, Any]:
        """What decides this run, keyed as ``runconfig.SETTINGS``: ``--print-config``, ``config.json``."""
        return {
            "model": self.spec.full_name,
            "recipe": self.recipe,
            "hparams": self.hparams.as_dict(),
            "data_options": self.data_options,
            "config": self.config,
            "seed": self.seed,
            "precision": self.precision,
            "deterministic": self.deterministic,
            "weights": self.weights,
            "save_every": self.save_every,
            "early_stop": self.early_stop,
        }

    def checkpoint_fields(self) -> dict[str, Any]:
        """The run's fields of checkpoint metadata: nothing that names a place on this machine."""
        fields: dict[str, Any] = {
            "recipe": self.recipe,
            "hparams": self.hparams.as_dict(),
            "seed": self.seed,
            "dataset": self.dataset.full_name,
            "data_options": self.shareable_data_options(),
            "data_source": self.data_source(),
            "precision": self.precision,
            "deterministic": self.deterministic,
        }
        if self.weights is not None:
            fields["weights_from"] = self.weights
        return fields

    def shareable_data_options(self) -> dict[str, Any]:
        """Data options fit for a checkpoint: no paths or addresses of this machine."""
        local = set(self.dataset.path_options)
        return {k: v for k, v in self.data_options.items() if k not in local}

    def data_source(self) -> dict[str, Any]:
        """What a path option pointed at, in a form that leaks nothing: file name and hash."""
        source: dict[str, Any] = {}
        for key in self.dataset.path_options:
            value = self.data_options.get(key)
            if isinstance(value, str) and value and os.path.isfile(value):
                source[key] = {"name": os.path.basename(value), "sha256": sha256_of(Path(value))}
            elif isinstance(value, str) and value and os.path.isdir(value):
                source[key] = {"folder": os.path.basename(os.path.normpath(value))}
            elif value:
                source[key] = {"given": True}
        return source


def _device(text: str) -> tuple[DeviceBackend, int]:
    from zoo.backend import resolve_device

    return resolve_device(text, get_registry().devices)


def device_kind(backend: DeviceBackend) -> str:
    """Which recipe variant a device runs: ``cpu``, or ``accelerator`` for every other backend."""
    return "cpu" if backend.name == "cpu" else "accelerator"


def weights_ref(name: str, weights: str | None) -> str | None:
    """A tag alone (``default``) means the model's own published weights; a path stays a path."""
    if weights is None or looks_like_path(weights) or ":" in weights or is_model_name(weights):
        return weights
    return f"{name}:{weights}"


def _check_precision(precision: str, backend: DeviceBackend) -> None:
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", hint=f"choose from {', '.join(PRECISIONS)}")
    if precision != "fp32" and precision not in backend.autocast_dtypes():
        raise UsageError(
            f"--precision {precision} is not supported on {backend.name}",
            hint=f"supported: fp32, {', '.join(backend.autocast_dtypes()) or 'nothing else'}",
        )


def _absolute_paths(options: dict[str, Any], path_options: tuple[str, ...]) -> dict[str, Any]:
    """Paths the user gave become absolute, so a resumed run finds them from any folder."""
    fixed = dict(options)
    for key in path_options:
        value = options.get(key)
        if isinstance(value, str) and value and "://" not in value:
            fixed[key] = os.path.abspath(os.path.expanduser(value))
    return fixed


def _default_run_dir(name: str, out: str | Path | None, dist: DistEnv) -> Path | None:
    if out is not None:
        return Path(out)
    if dist.enabled:
        if dist.run_id and dist.run_id != "none":
            # Stable across elastic restarts, so restarted workers find the checkpoint.
            return Path("runs") / name / f"torchrun-{dist.run_id}"
        raise UsageError("under torchrun without a rendezvous id, pass --out RUN_DIR so every rank uses one folder")
    return None  # a fresh runs/<model>/<time> folder, made when training starts


def make_plan(name: str, options: RunOptions = RunOptions(), dist: DistEnv | None = None, **overrides: Any) -> Plan:
    """Resolve a model name and user overrides (or a run folder to resume) into a checked plan."""
    dist = dist or DistEnv()
    save_every = check_save_every(options.save_every)
    early_stop = check_early_stop(options.early_stop)
    plan = _make_plan(name, options, dist, overrides)
    if dist.enabled and save_every is None:
        save_every = 1  # elastic restarts resume from the last epoch, so every epoch is saved
    if save_every is None and plan.resume is not None:
        save_every = plan.save_every  # the run's own setting, from its config.json
    plan.save_every = save_every
    if early_stop is not None or plan.resume is None:
        plan.early_stop = early_stop  # else the run's own, from its config.json
    return plan


def _make_plan(name: str, options: RunOptions, dist: DistEnv, overrides: dict[str, Any]) -> Plan:
    registry = get_registry()
    if dist.is_main:
        warn_problems(registry)
    backend, index = _device(options.device)
    resume, out = options.resume, options.out
    run_dir = Path(resume) if resume is not None else _default_run_dir(name, out, dist)
    relaunched = resume is None and run_dir is not None and dist.enabled and (run_dir / "last.safetensors").exists()
    if relaunched:
        # An elastic restart, or the same torchrun command run again on every node after one
        # failed: the group continues the run in its folder. Every rank decides this before any
        # rank writes there: rank 0 writes only after DDP's first collective, which each rank
        # joins after planning.
        resume = run_dir
    if resume is not None:
        given = {"--seed": options.seed, "--precision": options.precision, "--weights": options.weights}
        if not relaunched:
            refused = [flag for flag, value in given.items() if value is not None]
            if out is not None and Path(out) != Path(resume):
                refused.append("--out")
            if refused:
                raise UsageError(
                    f"{', '.join(refused)} cannot be given with --resume: the run keeps its own settings",
                    hint="start a new run to change them",
                )
        return _resume_plan(name, Path(resume), backend, index, overrides, options)
    holder = RunFolder(run_dir).live_holder() if run_dir is not None else None
    if holder is not None:
        raise UsageError(f"run folder {run_dir} is in use by a live run (pid {holder})", hint="pick another --out")
    if run_dir is not None and RunFolder(run_dir).holds_run():
        # The hint names no path after a flag: zoo.train rewords "--resume X" for Python callers.
        raise UsageError(
            f"{run_dir} already holds a run",
            hint="continue it with --resume RUN_DIR (that folder), or pick another --out",
        )
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    recipe_name = overrides.pop("recipe", None)
    method = overrides.get("method")
    if recipe_name is None and isinstance(method, str) and any(r.name == method for r in spec.recipes):
        recipe_name = method  # a fitting method's own recipe carries its settings
    try:
        recipe = spec.recipe(recipe_name, device=device_kind(backend))
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    # The keys every recipe has are typed by the shared defaults: a recipe's "lr": 1 still takes 0.05.
    declared = {**recipe.resolved(), **BASE_HPARAMS}
    groups = split_overrides(overrides, {"hparams": declared, "data": dataset.options, "config": spec.config})
    hparams = HParams.from_dict({**recipe.resolved(), **groups["hparams"]})
    chosen_precision = options.precision or "fp32"
    _check_precision(chosen_precision, backend)
    return Plan(
        spec=spec,
        dataset=dataset,
        recipe=recipe.name,
        hparams=hparams,
        data_options={**dataset.options, **_absolute_paths(groups["data"], dataset.path_options)},
        config=groups["config"],
        seed=check_seed(0 if options.seed is None else options.seed),
        data_dir=env.data_dir(options.data_dir),
        run_dir=run_dir,
        precision=chosen_precision,
        deterministic=options.deterministic,
        quiet=options.quiet,
        download=env.may_download(options.download),
        backend=backend,
        device_index=index,
        weights=weights_ref(spec.full_name, options.weights),
        given_data_dir=_given_dir(options.data_dir),
        epochs_given="epochs" in groups["hparams"],
    )


def _given_dir(data_dir: str | Path | None) -> Path | None:
    return None if data_dir is None else Path(os.path.abspath(os.path.expanduser(str(data_dir))))


def _resume_plan(
    name: str,
    run_dir: Path,
    backend: DeviceBackend,
    index: int,
    overrides: dict[str, Any],
    options: RunOptions,
) -> Plan:
    from zoo.files.checkpoint import read_checkpoint

    data_dir = options.data_dir

    folder = RunFolder(run_dir)
    if not folder.last.exists():
        raise UsageError(
            f"cannot resume: {folder.last} does not exist", hint="pass the run folder that holds last.safetensors"
        )
    tensors, meta = read_checkpoint(folder.last)
    if name and name != meta["model"]:
        raise UsageError(f"cannot resume: {run_dir} holds a run of {meta['model']!r}, not {name!r}")
    if "rng_state" not in meta:
        raise UsageError(f"cannot resume: {folder.last} has no training state")
    for key in ("epoch", "hparams", "precision"):
        if key not in meta:
            raise CheckpointError(folder.last, f"cannot resume: metadata has no {key!r} field")
    registry = get_registry()
    spec = registry.model(meta["model"])
    try:
        hparams = HParams.from_dict(dict(meta["hparams"]))
    except UsageError as exc:
        raise CheckpointError(folder.last, f"cannot resume: saved hyperparameters are damaged: {exc.message}") from None
    changed = sorted(k for k in overrides if k != "epochs" and overrides[k] != hparams.as_dict().get(k))
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
        raise CheckpointError(folder.last, f"cannot resume: epoch {meta['epoch']} is past the run's {hparams.epochs}")
    dataset = registry.dataset(str(meta.get("dataset", spec.dataset)))
    # Options naming local places come from the run folder's own configuration, never the checkpoint.
    own = folder.read_config(strict=True)
    if own:
        check_config(own, folder.config)  # the same schema --config reads
    local = own.get("data_options", {})
    local = {k: v for k, v in local.items() if k in dataset.path_options and isinstance(v, str)}
    save_every = check_save_every(own.get("save_every"), f"{folder.config}: 'save_every'")
    early_stop = check_early_stop(own.get("early_stop"), f"{folder.config}: 'early_stop'")
    if data_dir is None and isinstance(own.get("data_dir"), str) and own["data_dir"]:
        data_dir = own["data_dir"]  # where this run found its data on this machine
    saved = {k: v for k, v in dict(meta.get("data_options", {})).items() if k in dataset.options}
    saved = {k: v for k, v in saved.items() if k not in dataset.path_options}
    precision = str(meta["precision"])
    _check_precision(precision, backend)
    return Plan(
        spec=spec,
        dataset=dataset,
        recipe=str(meta.get("recipe", spec.default_recipe)),
        hparams=hparams,
        data_options={**dataset.options, **saved, **local},
        config=dict(meta["config"]),
        seed=check_seed(meta.get("seed", 0)),
        data_dir=env.data_dir(data_dir),
        run_dir=run_dir,
        precision=precision,
        deterministic=options.deterministic or bool(meta.get("deterministic", False)),
        quiet=options.quiet,
        download=env.may_download(options.download),
        backend=backend,
        device_index=index,
        given_data_dir=_given_dir(data_dir),
        save_every=save_every,
        early_stop=early_stop,
        # The run's own decision; an --epochs given now replaces it.
        epochs_note=note if isinstance(note := own.get("epochs_note"), str) and "epochs" not in overrides else None,
        resume=meta,
        resume_tensors=tensors,
    )
