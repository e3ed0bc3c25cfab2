"""The plan of a run: everything decided before any data is touched.

``make_plan`` turns a model name and the user's options (or a run folder to resume)
into a checked ``Plan``: recipe chosen for the device, typed hyperparameters, data
options, builder config, seed, precision, device. Every mistake the user can make is
found here, before a folder is created or a byte of data is read.

A plan is frozen once made. The one decision that needs the data's size (the recipe's
``min_steps`` raising the epochs on small data) is planning too: ``Plan.for_data`` makes
the plan for that data, and the trainer runs that one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import env
from zoo.contracts import settings as run_settings
from zoo.contracts.options import split_overrides
from zoo.contracts.spec import BASE_HPARAMS, DatasetSpec, ModelSpec, Recipe
from zoo.errors import UsageError
from zoo.files.runfolder import LAST
from zoo.files.weights import is_model_name, looks_like_path, sha256_of
from zoo.plugins.registry import get_registry, warn_problems
from zoo.training import runconfig
from zoo.training.distributed import DistEnv
from zoo.training.hparams import HParams, check_seed, reach_min_steps
from zoo.training.resumeplan import SavedRun, read_saved_run
from zoo.training.runconfig import RunOptions, check_early_stop, check_save_every
from zoo.training.runplace import check_free, default_run_dir, refuse_with_resume

if TYPE_CHECKING:
    import torch

    from zoo.backend import DeviceBackend


@dataclass(frozen=True)
class Plan:
    """A checked description of one run; frozen: a later decision makes a new plan (``for_data``)."""

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
    #: Declared run settings without a field of their own (``RunOptions.more``), kept in config.json.
    more: dict[str, Any] = field(default_factory=dict)

    @property
    def device_kind(self) -> str:
        return device_kind(self.backend)

    def for_data(self, steps_per_epoch: int, samples: int, optimizer_free: bool) -> Plan:
        """This plan once the data's size is known: the recipe's ``min_steps`` may raise the epochs.

        Small data only; not when the user chose the epochs, on resume (the run keeps its
        own), or for a fitting method without optimizer steps.
        """
        if self.resume is not None or self.epochs_given or optimizer_free:
            return self
        hparams, note = reach_min_steps(self.hparams, steps_per_epoch, samples)
        return self if note is None else replace(self, hparams=hparams, epochs_note=note)

    def settings(self) -> dict[str, Any]:
        """What decides this run, keyed as ``runconfig.SETTINGS``: ``--print-config``, ``config.json``."""
        own = {"model": self.spec.full_name, "recipe": self.recipe, "hparams": self.hparams.as_dict()}
        return {**own, "data_options": self.data_options, "config": self.config, **runconfig.plan_values(self)}

    def checkpoint_fields(self) -> dict[str, Any]:
        """The run's fields of checkpoint metadata: nothing that names a place on this machine."""
        fields: dict[str, Any] = {
            "recipe": self.recipe,
            "hparams": self.hparams.as_dict(),
            "dataset": self.dataset.full_name,
            "data_options": self.shareable_data_options(),
            "data_source": self.data_source(),
            **runconfig.checkpoint_values(self),  # the settings declared checkpoint=True: seed, precision...
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
    run_settings.setting("precision").check(precision)  # the declared choices, one message
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


def make_plan(name: str, options: RunOptions = RunOptions(), dist: DistEnv | None = None, **overrides: Any) -> Plan:
    """Resolve a model name and user overrides (or a run folder to resume) into a checked, frozen plan."""
    dist = dist or DistEnv()
    save_every = check_save_every(options.save_every)
    early_stop = check_early_stop(options.early_stop)
    if dist.enabled and save_every is None:
        save_every = 1  # elastic restarts resume from the last epoch, so every epoch is saved
    registry = get_registry()
    if dist.is_main:
        warn_problems(registry)
    device = _device(options.device)
    resume, out = options.resume, options.out
    run_dir = Path(resume) if resume is not None else default_run_dir(name, out, dist)
    relaunched = resume is None and run_dir is not None and dist.enabled and (run_dir / LAST).exists()
    if relaunched:
        # An elastic restart, or the same torchrun command run again on every node after one
        # failed: the group continues the run in its folder. Every rank decides this before any
        # rank writes there: rank 0 writes only after DDP's first collective, which each rank
        # joins after planning.
        resume = run_dir
    if resume is None:
        return _fresh_plan(name, options, device, run_dir, overrides, save_every, early_stop)
    if not relaunched:
        refuse_with_resume(options, Path(resume))
    saved = read_saved_run(name, Path(resume), overrides, options.data_dir)
    return _resumed_plan(saved, Path(resume), device, options, save_every, early_stop)


def _fresh_plan(
    name: str,
    options: RunOptions,
    device: tuple[DeviceBackend, int],
    run_dir: Path | None,
    overrides: dict[str, Any],
    save_every: int | None,
    early_stop: int | None,
) -> Plan:
    check_free(run_dir)
    registry = get_registry()
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    backend, index = device
    recipe = _recipe(spec, overrides, backend)
    # The keys every recipe has are typed by the shared defaults: a recipe's "lr": 1 still takes 0.05.
    declared = {**recipe.resolved(), **BASE_HPARAMS}
    groups = split_overrides(overrides, {"hparams": declared, "data": dataset.options, "config": spec.config})
    precision = options.precision or "fp32"
    _check_precision(precision, backend)
    return Plan(
        spec=spec,
        dataset=dataset,
        recipe=recipe.name,
        hparams=HParams.from_dict({**recipe.resolved(), **groups["hparams"]}),
        data_options={**dataset.options, **_absolute_paths(groups["data"], dataset.path_options)},
        config=groups["config"],
        seed=check_seed(0 if options.seed is None else options.seed),
        data_dir=env.data_dir(options.data_dir),
        run_dir=run_dir,
        precision=precision,
        deterministic=options.deterministic,
        quiet=options.quiet,
        download=env.may_download(options.download),
        backend=backend,
        device_index=index,
        weights=weights_ref(spec.full_name, options.weights),
        given_data_dir=_given_dir(options.data_dir),
        save_every=save_every,
        early_stop=early_stop,
        epochs_given="epochs" in groups["hparams"],
        more=dict(options.more),
    )


def _recipe(spec: ModelSpec, overrides: dict[str, Any], backend: DeviceBackend) -> Recipe:
    """The recipe named by ``recipe`` (taken out of ``overrides``), a fitting method's own, or the default."""
    recipe_name = overrides.pop("recipe", None)
    method = overrides.get("method")
    if recipe_name is None and isinstance(method, str) and any(r.name == method for r in spec.recipes):
        recipe_name = method  # a fitting method's own recipe carries its settings
    try:
        return spec.recipe(recipe_name, device=device_kind(backend))
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None


def _given_dir(data_dir: str | Path | None) -> Path | None:
    return None if data_dir is None else Path(os.path.abspath(os.path.expanduser(str(data_dir))))


def _resumed_plan(
    saved: SavedRun,
    run_dir: Path,
    device: tuple[DeviceBackend, int],
    options: RunOptions,
    save_every: int | None,
    early_stop: int | None,
) -> Plan:
    """The plan that continues ``saved``: its own settings, this machine's device and folders."""
    backend, index = device
    _check_precision(saved.precision, backend)
    return Plan(
        spec=saved.spec,
        dataset=saved.dataset,
        recipe=saved.recipe,
        hparams=saved.hparams,
        data_options=saved.data_options,
        config=saved.config,
        seed=saved.seed,
        data_dir=env.data_dir(saved.data_dir),
        run_dir=run_dir,
        precision=saved.precision,
        deterministic=options.deterministic or saved.deterministic,
        quiet=options.quiet,
        download=env.may_download(options.download),
        backend=backend,
        device_index=index,
        given_data_dir=_given_dir(saved.data_dir),
        # Given now, else the run's own from its config.json.
        save_every=save_every if save_every is not None else saved.save_every,
        early_stop=early_stop if early_stop is not None else saved.early_stop,
        epochs_note=saved.epochs_note,
        more=runconfig.resumed_more(saved.more, options),
        resume=saved.meta,
        resume_tensors=saved.tensors,
    )
