"""The options of a run and the schema of its configuration file (``zoo train --config FILE``).

Both are read from the declared settings (``zoo.contracts.settings``). ``RunOptions`` is
the one type for how to run a model (seed, device, folders, precision, weights...):
``zoo.train``, ``zoo train`` and the plan all pass it. ``config_keys()`` is what a plan
writes back (``Plan.settings``) into ``config.json`` and ``--print-config``, and what
``--config`` and ``--resume`` read. Reading one applies the typing rules of ``--KEY VALUE``
on the command line (``zoo.contracts.options.check_typed``) and the declared bounds. Every
key must be known: a misspelt key is refused with the same suggestion the command line
gives. Every problem is one UsageError naming the file and the key. No torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from zoo.contracts import settings
from zoo.contracts.options import TypeMismatch, check_typed, suggest
from zoo.contracts.spec import BASE_HPARAMS, DatasetSpec, ModelSpec
from zoo.errors import UsageError
from zoo.files.readfile import read_json
from zoo.training.hparams import HParams


@dataclass(frozen=True)
class RunOptions:
    """How to run a model, apart from its recipe, data and builder keys (``--KEY VALUE``).

    The fields are the ``run`` settings of ``zoo.contracts.settings`` (their help, bounds and
    defaults live there); a declared run setting without a field of its own rides in ``more``.
    """

    seed: int | None = None
    device: str = "auto"
    data_dir: str | Path | None = None
    out: str | Path | None = None
    resume: str | Path | None = None
    precision: str | None = None
    deterministic: bool = False
    quiet: bool = False
    download: bool = True
    weights: str | None = None
    save_every: int | None = None
    early_stop: int | None = None
    threads: int | None = None
    more: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, value in self.more.items():  # the fields are checked where they are used (the plan)
            settings.setting(key).check(value)

    def with_keywords(self, keywords: dict[str, Any]) -> tuple[RunOptions, dict[str, Any]]:
        """These options updated by the keywords that name a run setting, and the other keywords (``--KEY VALUE``)."""
        own = {f.name for f in fields(RunOptions)}
        run = set(settings.names(settings.named("run")))
        mine = {k: v for k, v in keywords.items() if k in own}
        more = {**self.more, **dict(mine.pop("more", None) or {})}
        more.update({k: v for k, v in keywords.items() if k in run - own})
        rest = {k: v for k, v in keywords.items() if k not in own | run}
        return replace(self, **mine, more=more), rest

    def value(self, name: str) -> Any:
        """A run setting by name, with or without a field of its own (its declared default when not given)."""
        if name in self.more:
            return self.more[name]
        return getattr(self, name) if name != "more" and hasattr(self, name) else settings.setting(name).default


def own_fields() -> set[str]:
    """The run settings with a ``RunOptions`` field of their own."""
    return {f.name for f in fields(RunOptions)} - {"more"}


def plan_values(plan: Any) -> dict[str, Any]:
    """The run settings a plan writes (``config="setting"``), from its own fields or ``plan.more``."""
    return {
        s.name: getattr(plan, s.name) if s.name in own_fields() else plan.more.get(s.name, s.default)
        for s in settings.named("run", config="setting")
    }


def checkpoint_values(plan: Any) -> dict[str, Any]:
    """The run settings a checkpoint's metadata carries (declared ``checkpoint=True``)."""
    values = plan_values(plan)
    return {s.name: values[s.name] for s in settings.named("run", checkpoint=True)}


def saved_more(own: Mapping[str, Any]) -> dict[str, Any]:
    """From a run's config.json, the values of declared run settings that have no ``RunOptions`` field."""
    return {
        s.name: own[s.name]
        for s in settings.named("run", config="setting")
        if s.name not in own_fields() and s.name in own
    }


def resumed_more(saved: Mapping[str, Any], options: RunOptions) -> dict[str, Any]:
    """A resumed run's other settings: its own, replaced by those given now that may change on resume."""
    changed = {k: v for k, v in options.more.items() if settings.setting(k).on_resume == "change"}
    return {**saved, **changed}


def refused_on_resume(options: RunOptions) -> list[str]:
    """The flags given with ``--resume`` of settings a resumed run keeps (``on_resume="keep"``)."""
    return settings.refused_on_resume({s.name: options.value(s.name) for s in settings.named("run")})


WHAT = "a run configuration (a run's config.json, or zoo train --print-config output)"
_KINDS: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool, "path": str}


def _kinds(declared: settings.Setting) -> tuple[type, ...]:
    kind = _KINDS[declared.kind]
    return (kind,) if declared.default is not None else (kind, type(None))


def config_keys() -> dict[str, tuple[type, ...]]:
    """Keys a configuration sets, with the type each value must have (None: may be null): the plan's
    own keys, then every setting ``zoo.contracts.settings`` marks ``config="setting"``."""
    return {
        "model": (str,),
        **{s.name: _kinds(s) for s in settings.named("recipe", config="setting")},
        "hparams": (dict,),
        "data_options": (dict,),
        "config": (dict,),
        **{s.name: _kinds(s) for s in settings.named("run", config="setting")},
    }


def informational() -> tuple[str, ...]:
    """Keys a run writes into its config.json that say what happened, not what to do: read back, they
    are ignored (``settings.RECORDS``, and the settings marked ``config="info"``: ``data_dir`` is where
    this machine keeps the data, used by ``--resume`` of that same run only)."""
    return (*settings.RECORDS, *settings.names(settings.named(config="info")))


#: ``config_keys()`` and ``informational()`` of the declared settings, for readers that want constants.
SETTINGS = config_keys()
INFORMATIONAL = informational()

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
    keys, informed = config_keys(), informational()
    for key, value in data.items():
        if key in informed:
            continue
        if key not in keys:
            hint = suggest(key, [*keys, *informed], repr)
            raise config.error(key, "is not a key of a run configuration", hint=hint)
        kinds = keys[key]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            wanted = " or ".join(_TYPE_NAMES[k] for k in kinds)
            raise config.error(key, f"must be {wanted}, got {_short(value)}")
        config.values[key] = value
    for declared in settings.named(config="setting"):
        problem = declared.problem(config.values.get(declared.name))
        if problem is not None:
            raise config.error(declared.name, problem)
    return config


def check_save_every(value: Any, where: str = "--save-every") -> int | None:
    """None, 0 (only at the end) or a whole number of epochs; anything else is a UsageError naming ``where``."""
    return settings.setting("save_every").check(value, where)


def check_early_stop(value: Any, where: str = "--early-stop") -> int | None:
    """None, 0 (off) or a patience in epochs; anything else is a UsageError naming ``where``."""
    return settings.setting("early_stop").check(value, where)


def read_config_file(path: str | Path) -> RunConfig:
    """Read and check a configuration file: bounded, regular files only, strict JSON."""
    return check_config(read_json(path, WHAT, kind="config"), path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
