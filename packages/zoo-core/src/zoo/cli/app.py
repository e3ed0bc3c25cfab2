"""The typer app every ``zoo`` command hangs on, and what commands share.

Commands stay thin: they parse, call the library, and print. Nothing here imports
torch at module level, so ``zoo list`` and ``zoo plugins`` start instantly. Errors
that the user can fix are ZooErrors: printed as one line, exit code 2, no traceback.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import typer
from rich.console import Console

from zoo.version import __version__

ROOT_EPILOG = (
    "Examples: zoo list; zoo info tabular.diabetes; zoo train tabular.logistic --recipe seed; "
    "zoo predict runs/tabular.logistic/latest 4.0. Shell completion: zoo --install-completion."
)

app = typer.Typer(
    name="zoo",
    help="A plugin-based model zoo for PyTorch: list, inspect, train, evaluate and reuse classic models.",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    epilog=ROOT_EPILOG,
)


def _readable_help() -> None:
    """Help that names values as people write them: ``NAME``, ``[PATTERN]``, ``INPUT...``,
    ``--epochs EPOCHS``, instead of typer's ``{name}`` and ``<int range>``."""
    from typer.core import TyperArgument, TyperOption

    def display_name(self: Any) -> str:
        name = self.metavar or (self.name or "").upper()
        return name + "..." if self.nargs != 1 and not name.endswith("...") else name

    def usage_name(self: Any) -> str:
        name = display_name(self)
        return name if self.required or name.startswith("[") or " " in name else f"[{name}]"

    def argument_type(self: Any, ctx: Any) -> str | None:
        return None  # the argument's name says it; no "<str>" beside it

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return str(self.metavar)
        name = (self.name or "value").upper()
        return name + "..." if self.nargs != 1 else name

    TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
    TyperArgument._rich_display_name = display_name  # type: ignore[method-assign]
    TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign]
    TyperOption.display_type_rich = option_type  # type: ignore[method-assign]


_readable_help()
# User and file text is printed literally: no markup, no emoji codes, no highlighting.
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _version(value: bool) -> None:
    if value:
        out.print(f"zoo {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    strict_plugins: bool = typer.Option(
        False, "--strict-plugins", help="Fail when any plugin is broken (also ZOO_STRICT_PLUGINS=1)."
    ),
    plugin: list[str] = typer.Option(
        [],
        "--plugin",
        metavar="MODULE",
        help="Load an importable module as a plugin (repeatable; also ZOO_PLUGINS=a,b).",
    ),
) -> None:
    """A plugin-based model zoo for PyTorch."""
    if strict_plugins:
        os.environ["ZOO_STRICT_PLUGINS"] = "1"
    if plugin:  # through the environment, so worker processes (plots, tune workers) load them too
        given = [p for p in os.environ.get("ZOO_PLUGINS", "").split(",") if p.strip()]
        os.environ["ZOO_PLUGINS"] = ",".join([*given, *plugin])


def load_registry(warn: bool = True) -> Any:
    from zoo.plugins.registry import get_registry, warn_problems

    registry = get_registry()
    if warn:
        warn_problems(registry)
    return registry


def print_json(data: Any) -> None:
    """Strict JSON on stdout (non-finite numbers as null, said on stderr): see zoo.jsonout."""
    from zoo.jsonout import print_json as strict

    strict(data)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
    return str(value)


def safe(value: Any) -> str:
    """Text fit for a terminal: control characters (escape sequences) from files become '?'."""
    return _CONTROL.sub("?", str(value))


#: Columns of a terminal table are never made narrower than this (unless their text is).
MIN_COLUMN = 8


def print_table(columns: list[str], rows: list[list[Any]], whole: tuple[str, ...] = ()) -> None:
    """A table on a terminal; plain aligned columns in a pipe (one row per line, nothing cut).

    Columns named in ``whole`` (names, tags, hashes and paths people copy) are never wrapped
    or cut; the others wrap between words, and split a word only when it is wider than the
    column. When the whole columns leave no room for the others, the plain form is printed.
    """
    cells = [[safe(c) for c in row] for row in rows]
    widths = [max(len(c) for c in [column, *(row[i] for row in cells)]) for i, column in enumerate(columns)]
    # Whole columns need room beside a few characters of every other column; without it the
    # table would squeeze the others out of sight, so it is printed plain (the terminal wraps).
    room = sum(w if c in whole else min(w, MIN_COLUMN) for c, w in zip(columns, widths, strict=True))
    if out.is_terminal and room + 2 * len(columns) <= out.width:
        from rich import box
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD)  # no vertical rules: two columns' worth of room at 80
        for column, width in zip(columns, widths, strict=True):
            if column in whole:
                table.add_column(column, no_wrap=True, min_width=width)
            else:
                table.add_column(column, overflow="fold", min_width=min(width, MIN_COLUMN))
        for row in cells:
            table.add_row(*row)
        out.print(table)
        return
    for row in [columns, *cells]:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        sys.stdout.write(line + "\n")
    sys.stdout.flush()  # before anything a command adds on stderr


# -- shell completion: names come from the registry (plugin specs only, no torch) ---------


def _registry_quietly() -> Any:
    try:
        from zoo.plugins.registry import get_registry

        return get_registry()
    except Exception:  # completion must never print a traceback into the shell
        return None


def complete_model(incomplete: str) -> list[str]:
    """Model names for ``zoo train <TAB>``."""
    registry = _registry_quietly()
    if registry is None:
        return []
    return [name for name in sorted(registry.models) if name.startswith(incomplete)]


def complete_model_or_weights(incomplete: str) -> list[str]:
    """Model names and published weights ``NAME:TAG``; paths are left to the shell."""
    registry = _registry_quietly()
    if registry is None:
        return []
    names = []
    for name in sorted(registry.models):
        names.append(name)
        names += [f"{name}:{w.tag}" for w in registry.models[name].weights]
    return [n for n in names if n.startswith(incomplete)]


def _specs_on_line(registry: Any, ctx: typer.Context | None) -> list[Any]:
    """The model named on the command line being completed, or every model."""
    name = ctx.params.get("name") if ctx is not None else None
    if not name and ctx is not None:  # `zoo train NAME --recipe <TAB>` leaves NAME among the extra args
        name = next((a for a in ctx.args if not a.startswith("-")), None)
    return [registry.models[name]] if name in registry.models else list(registry.models.values())


def complete_recipe(ctx: typer.Context, incomplete: str) -> list[str]:
    """Recipes of the model already on the command line (all recipes when there is none)."""
    registry = _registry_quietly()
    if registry is None:
        return []
    specs = _specs_on_line(registry, ctx)
    found = sorted({r.name for s in specs for r in s.recipes})
    return [r for r in found if r.startswith(incomplete)]


def complete_weight_tag(ctx: typer.Context, incomplete: str) -> list[str]:
    """Published weight tags of the model on the command line."""
    registry = _registry_quietly()
    if registry is None:
        return []
    specs = _specs_on_line(registry, ctx)
    found = sorted({w.tag for s in specs for w in s.weights})
    return [t for t in found if t.startswith(incomplete)]
