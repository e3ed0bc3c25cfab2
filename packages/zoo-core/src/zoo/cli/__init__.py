"""The ``zoo`` command.

Commands stay thin: they parse, call the library, and print. Nothing here imports
torch at module level, so ``zoo list`` and ``zoo plugins`` start instantly. Errors
that the user can fix are ZooErrors: printed as one line, exit code 2, no traceback.
A closed stdout (``| head``) ends printing quietly; a training run goes on to its end.
Each topic's commands live in their own module and attach to the one ``app``.

Building the whole app (every topic module, typer's parameter machinery) costs more
than listing itself, so the plain forms of ``zoo list`` and ``zoo plugins`` call their
command functions directly; any other form (``--help``, a mistake, shell completion)
goes through the app, which then says what it always says.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main"]

#: The topic modules; importing one attaches its commands to the app.
COMMAND_MODULES = ("bench", "check", "export", "listing", "newplugin", "serve", "training", "tune", "using")
#: How long a failing torchrun worker other than rank 0 waits, so that rank 0 prints the error.
RANK_ERROR_GRACE_S = 3.0
#: The error of a rank other than 0, printed only if that rank outlives the grace period.
_RANK_ERROR: list[str] = []
#: What the direct forms accept: command -> {option: keyword}; ``list`` also takes one PATTERN.
DIRECT = {"list": {"--task": "task", "--plugin": "plugin"}, "plugins": {}}


def full_app() -> typer.Typer:
    """The typer app with every command attached."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"zoo.cli.{name}")
    from zoo.cli.app import app

    globals()["app"] = app  # the package's ``app`` is the Typer object, not the submodule
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def direct_call(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """``(command, keyword arguments)`` when ``argv`` is a plain ``list`` or ``plugins``; else None.

    Plain means: each option at most once and spelled out (``--task binary``, never
    ``--task=binary``), values that do not start with ``-``, at most one PATTERN, and no
    shell completion under way. Anything else is left to the full app.
    """
    if not argv or argv[0] not in DIRECT or any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return None
    command, takes = argv[0], DIRECT[argv[0]]
    kwargs: dict[str, Any] = {"as_json": False}
    if command == "list":
        kwargs.update(pattern=None, task=None, plugin=None)
    seen: set[str] = set()
    rest = iter(argv[1:])
    for arg in rest:
        if arg in seen:
            return None
        seen.add(arg)
        if arg == "--json":
            kwargs["as_json"] = True
        elif arg in takes:
            value = next(rest, None)
            if value is None or value.startswith("-"):
                return None
            kwargs[takes[arg]] = value
        elif command == "list" and not arg.startswith("-") and kwargs["pattern"] is None:
            kwargs["pattern"] = arg
        else:
            return None
    return command, kwargs


def _run_direct(command: str, kwargs: dict[str, Any]) -> None:
    """Run a listing command as the app would: the same function, the same exit codes."""
    from zoo.cli import listing

    function = listing.list_cmd if command == "list" else listing.plugins_cmd
    try:
        function(**kwargs)
        sys.stdout.flush()
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # The reader of stdout left: end quietly with the status the app gives.
        from zoo.training.progress import silence_stdout

        silence_stdout()
        sys.exit(1)


def main() -> None:
    """Entry point: run the app and turn ZooErrors into one clean line.

    A worker process of torchrun ends with ``os._exit`` once its command is done and its
    output flushed: interpreter finalization can destroy torch's gloo and store threads
    while they are still joinable, which aborts the process ("terminate called without an
    active exception", exit -6) after a run that has saved everything, about one run in
    sixteen on a 2-core machine, and torchrun then reports the whole job as failed.
    """
    if os.environ.get("WORLD_SIZE", "1").strip() in ("", "0", "1"):
        _main()
        return
    try:
        _main()
        code: object = 0
    except SystemExit as done:
        code = done.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what the interpreter would print for sys.exit("text")
    sys.stdout.flush()
    sys.stderr.flush()
    status = code if isinstance(code, int) else (0 if code is None else 1)
    rank = os.environ.get("RANK", "0")
    if status and rank != "0":
        # Rank 0 says what went wrong; torchrun stops every worker as soon as one fails, so the
        # others give it a moment to print first. A rank still alive after it failed alone:
        # its error is printed now, naming the rank.
        time.sleep(RANK_ERROR_GRACE_S)
        if _RANK_ERROR:
            print(f"error on rank {rank}: {_RANK_ERROR[0]}", file=sys.stderr, flush=True)
    os._exit(status)


def _main() -> None:
    # torch warns on import when numpy is absent; zoo does not need numpy.
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    try:
        direct = direct_call(sys.argv[1:])
        if direct is not None:
            _run_direct(*direct)
        else:
            full_app()()
    except ZooError as exc:
        from zoo.cli.app import err, safe

        if os.environ.get("RANK", "0") == "0":  # under torchrun, say it once
            err.print(safe(f"error: {exc}"))
        else:
            _RANK_ERROR.append(safe(str(exc)))
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # The reader of stdout left (`zoo list | head -1`): that is not an error. Training never
        # gets here (its progress stops printing and the run goes on); anything else had
        # nothing more to say.
        from zoo.training.progress import silence_stdout

        silence_stdout()
        sys.exit(0)
