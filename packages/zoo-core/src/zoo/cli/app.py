"""The typer app every ``zoo`` command hangs on, and what commands share.

Commands stay thin: they parse, call the library, and print. Nothing here imports
torch at module level, so ``zoo list`` and ``zoo plugins`` start instantly. Errors
that the user can fix are ZooErrors: printed as one line, exit code 2, no traceback.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

import typer
from rich.console import Console

from zoo import __version__

app = typer.Typer(
    name="zoo",
    help="A plugin-based model zoo for PyTorch: list, inspect, train, evaluate and reuse classic models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# User and file text is printed literally: no markup, no emoji codes, no highlighting.
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

JSON_HELP = "Print JSON instead of a table."
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
) -> None:
    """A plugin-based model zoo for PyTorch."""
    if strict_plugins:
        os.environ["ZOO_STRICT_PLUGINS"] = "1"


def load_registry(warn: bool = True) -> Any:
    from zoo.registry import get_registry, warn_problems

    registry = get_registry()
    if warn:
        warn_problems(registry)
    return registry


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
    return str(value)


def safe(value: Any) -> str:
    """Text fit for a terminal: control characters (escape sequences) from files become '?'."""
    return _CONTROL.sub("?", str(value))


def print_table(columns: list[str], rows: list[list[Any]]) -> None:
    """A table on a terminal; plain aligned columns in a pipe (one row per line, nothing cut)."""
    cells = [[safe(c) for c in row] for row in rows]
    if out.is_terminal:
        from rich.table import Table

        table = Table()
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in cells:
            table.add_row(*row)
        out.print(table)
        return
    widths = [max(len(c) for c in [column, *(row[i] for row in cells)]) for i, column in enumerate(columns)]
    for row in [columns, *cells]:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        sys.stdout.write(line + "\n")
