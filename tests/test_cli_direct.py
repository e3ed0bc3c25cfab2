"""The direct forms of ``zoo list`` / ``zoo plugins`` mean what the full typer app means."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.cli import direct_call, full_app

VALUES = st.sampled_from(["binary", "vision.*", "x", "", "-x", "--json", "é"])
ODD = st.sampled_from(["-h", "--help", "--task=binary", "-", "--", "--version", "--strict-plugins"])
PIECES = st.one_of(
    st.just(["--json"]),
    st.tuples(st.sampled_from(["--task", "--plugin"]), VALUES).map(list),
    VALUES.map(lambda v: [v]),
    st.just(["--task"]),
    ODD.map(lambda v: [v]),
)


def _parsed_by_app(argv: list[str]) -> dict[str, object] | None:
    """The command's keyword arguments as the typer app parses ``argv``; None when it would not run it."""
    from typer.main import get_command

    group = get_command(full_app())
    command = group.commands[argv[0]]  # type: ignore[attr-defined]
    try:
        with command.make_context(argv[0], list(argv[1:])) as ctx:
            return dict(ctx.params)
    except (typer.TyperException, typer.Exit):  # a usage error, or --help
        return None


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["list", "plugins"]), st.lists(PIECES, max_size=4))
def test_a_direct_form_has_the_arguments_the_app_would_pass(command: str, pieces: list[list[str]]) -> None:
    argv = [command, *(token for piece in pieces for token in piece)]
    direct = direct_call(argv)
    if direct is None:
        return  # the full app handles it, whatever it makes of it
    assert direct[0] == command
    assert _parsed_by_app(argv) == direct[1], argv


@pytest.mark.parametrize(
    "argv",
    [["list", "--help"], ["list", "a", "b"], ["list", "--task"], ["list", "--task=binary"], ["--version", "list"]],
)
def test_other_forms_are_left_to_the_app(argv: list[str]) -> None:
    assert direct_call(argv) is None


def test_completion_goes_through_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_ZOO_COMPLETE", "complete_bash")
    assert direct_call(["list"]) is None


@pytest.mark.parametrize("argv", [["list", "--task", "binary"], ["list", "nomatch", "--json"], ["plugins"]])
def test_direct_and_full_app_print_the_same(argv: list[str]) -> None:
    full = "import sys, zoo.cli as c; c.direct_call = lambda argv: None; sys.argv[0] = 'zoo'; c.main()"
    direct = subprocess.run([sys.executable, "-m", "zoo", *argv], capture_output=True, text=True)
    app = subprocess.run([sys.executable, "-c", full, *argv], capture_output=True, text=True)
    assert (direct.returncode, direct.stdout, direct.stderr) == (app.returncode, app.stdout, app.stderr)
