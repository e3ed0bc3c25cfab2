"""The options of a run and the schema of its configuration file (``zoo train --config FILE``).

``RunOptions`` is the one type for how to run a model (seed, device, folders,
precision, weights...): ``zoo.train``, ``zoo train`` and the plan all pass it, and
``SETTINGS`` is what a plan writes back (``Plan.settings``) into ``config.json``,
``--print-config`` and what ``--config`` and ``--resume`` read. Reading one applies
the typing rules of ``--KEY VALUE`` on the command line (``zoo.contracts.options.check_typed``):
whole numbers where a default is an int, true/false for flags, finite numbers, text
where text is expected. Every key must be
known: a misspelt key is refused with the same suggestion the command line gives.
Every problem is one UsageError naming the file and the key. No torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from zoo.contracts.metadata import PRECISIONS
from zoo.contracts.options import TypeMismatch, check_typed, suggest
from zoo.contracts.spec import BASE_HPARAMS, DatasetSpec, ModelSpec
from zoo.errors import UsageError
from zoo.files.readfile import read_json
from zoo.training.hparams import HParams


@dataclass(frozen=True)
class RunOptions:
    """How to run a model, apart from its recipe, data and builder keys (``--KEY VALUE``)."""

    seed: int | None = None
    device: str = "auto"
    data_dir: str | Path | None = None
    out: str | Path | None = None
    resume: str | Path | None = None
    precision: str | None = None
    deterministic: bool = False
    quiet: bool = False
    download: bool = True
    #: A checkpoint, a run folder, NAME[:TAG], or just a tag (``default``) of the model's published weights.
    weights: str | None = None
    #: Save ``last`` every N epochs (0: only at the end and on interrupt); None: every few seconds.
    save_every: int | None = None
    #: Stop when the main validation metric has not improved for N epochs (0: never);
    #: None: never, or on ``resume`` the run's own setting.
    early_stop: int | None = None
    #: torch CPU threads while the run trains; None: zoo's choice (``threads.choose_threads``).
    threads: int | None = None

    def with_keywords(self, keywords: dict[str, Any]) -> tuple[RunOptions, dict[str, Any]]:
        """These options updated by the keywords that name one, and the other keywords (``--KEY VALUE``)."""
        names = {f.name for f in fields(RunOptions)}
        mine = {k: v for k, v in keywords.items() if k in names}
        return replace(self, **mine), {k: v for k, v in keywords.items() if k not in names}


WHAT = "a run configuration (a run's config.json, or zoo train --print-config output)"

#: Keys a configuration sets, with the type each value must have (None: may be null).
SETTINGS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "recipe": (str, type(None)),
    "hparams": (dict,),
    "data_options": (dict,),
    "config": (dict,),
    "seed": (int, type(None)),
    "precision": (str, type(None)),
    "deterministic": (bool,),
    "weights": (str, type(None)),
    "save_every": (int, type(None)),
    "early_stop": (int, type(None)),
}
#: Keys a run writes into its config.json that say what happened, not what to do:
#: read back, they are ignored. ``data_dir`` is where this machine keeps the data
#: (used by ``--resume`` of that same run only); ``data_config`` holds the builder
#: arguments the data decided (``in_features``), which the data decides again;
#: ``epochs_note`` says why the epochs were raised (``hparams.epochs`` holds the result).
#: ``weights_transfer`` says which tensors of ``weights`` were re-initialised for new layer sizes.
#: ``threads`` is the torch CPU thread count the run used (given, or zoo's choice).
INFORMATIONAL = (
    "data_source",
    "data_config",
    "data_dir",
    "device",
    "world_size",
    "versions",
    "epochs_note",
    "weights_transfer",
    "threads",
)

_TYPE_NAMES = {str: "text", int: "a whole number", bool: "true or false", dict: "an object", type(None): "null"}


@dataclass
class RunConfig:
    """A configuration file, checked at the top level (the model's own keys are checked by ``overrides``)."""

    path: Path
    model: str
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def overrides(self, spec: ModelSpec, dataset: DatasetSpec, keep_hparams: bool) -> dict[str, Any]:
        """The file's recipe, hyperparameters, data options and builder config, each key checked.

        With ``keep_hparams`` False (a recipe given on the command line) the recipe decides
        the hyperparameters, not the file; they are still checked.
        """
        recipe = self.values.get("recipe")
        if recipe is not None and not any(r.name == recipe for r in spec.recipes):
            known = ", ".join(r.name for r in spec.recipes)
            raise self.error("recipe", f"names no recipe of {spec.full_name}: {recipe!r}", hint=f"recipes: {known}")
        result: dict[str, Any] = {}
        if recipe is not None:
            result["recipe"] = recipe
        hparams = self._checked("hparams", hparam_defaults(spec, recipe))
        if hparams:  # ranges and choices too, so that the error names this file
            try:
                HParams.from_dict({**spec.recipe(recipe).resolved(), **hparams})
            except UsageError as exc:
                raise self.error("hparams", f"do not fit: {exc.message}", exc.hint) from None
        data = self._checked("data_options", dict(dataset.options))
        derived = self.values.get("data_config") or {}
        given = {
            k: v
            for k, v in dict(self.values.get("config") or {}).items()
            if not (isinstance(derived, dict) and k in derived and derived[k] == v)
        }
        config = _check_group(self, "config", given, dict(spec.config))
        if keep_hparams:
            result.update(hparams)
        result.update(data)
        result.update(config)
        return result

    def _checked(self, group: str, declared: Mapping[str, Any]) -> dict[str, Any]:
        return _check_group(self, group, dict(self.values.get(group) or {}), declared)

    def error(self, key: str, problem: str, hint: str | None = None) -> UsageError:
        """One error naming the file and the key."""
        return UsageError(f"{self.path}: {key!r} {problem}", hint)


def hparam_defaults(spec: ModelSpec, recipe: str | None) -> dict[str, Any]:
    """Every hyperparameter a recipe of that name takes (any device variant), typed by its default.

    The keys every recipe has take their type from the shared defaults, so a recipe
    that writes ``"lr": 1`` still takes 0.05.
    """
    wanted = recipe or spec.default_recipe
    declared: dict[str, Any] = {}
    for variant in spec.recipes:
        if variant.name == wanted:
            declared.update({k: v for k, v in variant.resolved().items() if k not in declared})
    declared.update(BASE_HPARAMS)
    return declared


def _check_group(config: RunConfig, group: str, values: dict[str, Any], declared: Mapping[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{group}.{key}"
        if key not in declared:
            hint = suggest(key, declared, repr)
            raise config.error(where, f"is not a key of {config.model}'s {group}", hint=hint)
        try:
            checked[key] = check_typed(value, declared[key])
        except TypeMismatch as exc:
            raise config.error(where, str(exc)) from None
    return checked


def check_config(data: Any, path: str | Path) -> RunConfig:
    """The top level of a configuration: an object, a model name, known keys of the right types."""
    path = Path(path)
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not {WHAT}", hint="it must be a JSON object naming at least the model")
    if not isinstance(data.get("model"), str) or not data.get("model"):
        raise UsageError(f"{path}: 'model' must name the model to train", hint='e.g. "model": "tabular.linear"')
    config = RunConfig(path, str(data["model"]))
    for key, value in data.items():
        if key in INFORMATIONAL:
            continue
        if key not in SETTINGS:
            hint = suggest(key, [*SETTINGS, *INFORMATIONAL], repr)
            raise config.error(key, "is not a key of a run configuration", hint=hint)
        kinds = SETTINGS[key]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            wanted = " or ".join(_TYPE_NAMES[k] for k in kinds)
            raise config.error(key, f"must be {wanted}, got {_short(value)}")
        config.values[key] = value
    precision = config.values.get("precision")
    if precision is not None and precision not in PRECISIONS:
        raise config.error("precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    for key in ("seed", "save_every", "early_stop"):
        value = config.values.get(key)
        if value is not None and not 0 <= value < 2**63:
            raise config.error(key, f"must be between 0 and {2**63 - 1}, got {value}")
    return config


def check_save_every(value: Any, where: str = "--save-every") -> int | None:
    """None, 0 or a whole number of epochs; anything else is a UsageError naming ``where``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise UsageError(f"{where} must be 0 or a positive number of epochs, got {value!r}")
    return value


def check_early_stop(value: Any, where: str = "--early-stop") -> int | None:
    """None, 0 (off) or a patience in epochs; anything else is a UsageError naming ``where``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise UsageError(f"{where} must be 0 (off) or a patience of 1 epoch or more, got {value!r}")
    return value


def read_config_file(path: str | Path) -> RunConfig:
    """Read and check a configuration file: bounded, regular files only, strict JSON."""
    return check_config(read_json(path, WHAT, kind="config"), path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
