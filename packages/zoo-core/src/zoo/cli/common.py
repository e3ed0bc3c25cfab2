"""Options that several commands share, made from the declared settings (``zoo.contracts.settings``).

A command declares its fixed parameters (its arguments) and takes the rest as
``**given``; ``with_settings(COMMAND)`` gives it a generated ``__signature__`` holding one
typer option per setting shown on that command, which is what typer reads. ``--json``,
``--device`` and ``--data-dir`` come from the same declarations for every command, so each
has one spelling, one help and one default everywhere.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, TypeVar

import typer

from zoo.contracts import settings
from zoo.contracts.setting import Setting

F = TypeVar("F", bound=Callable[..., Any])
_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool, "path": Path}


def cli_default(declared: Setting) -> Any:
    """None where a config file or a recipe may still decide (so "not given" is seen), else the default."""
    if declared.config == "setting" or declared.group in ("hparams", "recipe"):
        return None
    return declared.default


def option(declared: Setting, **extra: Any) -> Any:
    """The typer option of one setting: its flag(s), metavar and help as declared."""
    if declared.negatable:
        names: tuple[str, ...] = (f"{declared.flag}/--no-{declared.flag[2:]}",)
    else:
        names = (declared.flag, *declared.short)
    if declared.negatable:
        extra = {"show_default": False, **extra}
    return typer.Option(cli_default(declared), *names, metavar=declared.metavar, help=declared.help, **extra)


def parameter(declared: Setting, **extra: Any) -> inspect.Parameter:
    """A keyword parameter typer reads as the setting's option."""
    kind = _TYPES[declared.kind]
    annotation: Any = kind if cli_default(declared) is not None else Optional[kind]
    return inspect.Parameter(
        declared.name, inspect.Parameter.KEYWORD_ONLY, default=option(declared, **extra), annotation=annotation
    )


def with_settings(
    command: str, extra: Mapping[str, Mapping[str, Any]] | None = None, own: Sequence[Setting] = ()
) -> Callable[[F], F]:
    """Give ``func(fixed..., **given)`` the options of every setting shown on ``command`` (and ``own``).

    ``extra`` adds typer arguments to some options (``autocompletion``). The function receives
    each as a keyword named like the setting.
    """

    def decorate(func: F) -> F:
        # The function's own parameters, kept from the first decoration, so that decorating again regenerates.
        fixed = getattr(func, "__fixed_parameters__", None) or [
            p for p in inspect.signature(func).parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD
        ]
        func.__fixed_parameters__ = fixed  # type: ignore[attr-defined]
        declared = [*settings.on_command(command), *own]
        generated = [parameter(s, **dict((extra or {}).get(s.name, {}))) for s in declared]
        func.__signature__ = inspect.Signature([*fixed, *generated])  # type: ignore[attr-defined]
        return func

    return decorate


def shared_option(name: str) -> Any:
    """The option of a declared setting, for a command that declares its parameters by hand."""
    return option(settings.setting(name))


def json_option() -> Any:
    """``--json``, as every command declares it."""
    return shared_option("json")


def device_option() -> Any:
    """``--device``, one help and one default (``auto``) for every command."""
    return shared_option("device")


def data_dir_option() -> Any:
    """``--data-dir``, as every command that reads data declares it."""
    return shared_option("data_dir")


def help_option() -> Any:
    """``--help`` of a command that adds the named model's own options to its help."""
    return typer.Option(False, "--help", "-h", help="Show this message (and the model's options) and exit.")


def model_options_help(spec: Any, dataset: Any) -> str:
    """The ``--KEY VALUE`` options one model takes: its default recipe's hyperparameters, its data, its builder."""
    shared = {s.name: s.help for s in settings.named("hparams")}
    recipe = next((r for r in spec.recipes if r.name == spec.default_recipe), spec.recipes[0])
    recipes = ", ".join(dict.fromkeys(r.name for r in spec.recipes))
    groups: tuple[tuple[str, dict[str, Any], dict[str, str]], ...] = (
        (f"Hyperparameters (recipe {recipe.name!r}; recipes: {recipes})", recipe.resolved(), shared),
        (f"Data options of {dataset.full_name}", dict(dataset.options), {}),
        ("Model config (the builder's arguments)", dict(spec.config), {}),
    )
    lines = [f"Options of {spec.full_name} (--KEY VALUE; more in zoo info {spec.full_name}):"]
    for title, values, helps in groups:
        lines.append(f"  {title}:" if values else f"  {title}: none")
        for key, value in values.items():
            flag = f"--{key.replace('_', '-')} {type(value).__name__.upper()}"
            described = f"{helps[key]} " if key in helps else ""
            lines.append(f"    {flag:<26} {described}(default {value!r})")
    return "\n".join(lines)
