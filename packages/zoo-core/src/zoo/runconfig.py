"""The schema of a run configuration file (``zoo train --config FILE``).

A configuration is what ``--print-config`` prints and what a run writes to its
``config.json``. Reading one applies the typing rules of ``--KEY VALUE`` on the
command line (``zoo.options.check_typed``): whole numbers where a default is an int,
true/false for flags, finite numbers, text where text is expected. Every key must be
known: a misspelt key is refused with the same suggestion the command line gives.
Every problem is one UsageError naming the file and the key. No torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.hparams import HParams
from zoo.metadata import PRECISIONS
from zoo.options import TypeMismatch, check_typed, suggest
from zoo.readfile import read_json
from zoo.spec import BASE_HPARAMS, DatasetSpec, ModelSpec

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
}
#: Keys a run writes into its config.json that say what happened, not what to do:
#: read back, they are ignored. ``data_dir`` is where this machine keeps the data
#: (used by ``--resume`` of that same run only); ``data_config`` holds the builder
#: arguments the data decided (``in_features``), which the data decides again;
#: ``epochs_note`` says why the epochs were raised (``hparams.epochs`` holds the result).
INFORMATIONAL = ("data_source", "data_config", "data_dir", "device", "world_size", "versions", "epochs_note")

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
    for key in ("seed", "save_every"):
        value = config.values.get(key)
        if value is not None and not 0 <= value < 2**63:
            raise config.error(key, f"must be between 0 and {2**63 - 1}, got {value}")
    return config


def read_config_file(path: str | Path) -> RunConfig:
    """Read and check a configuration file: bounded, regular files only, strict JSON."""
    return check_config(read_json(path, WHAT, kind="config"), path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
