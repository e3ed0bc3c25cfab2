"""The ``zoo`` command.

Commands stay thin: they parse, call the library, and print. Nothing here imports
torch at module level, so ``zoo list`` and ``zoo plugins`` start instantly. Errors
that the user can fix are ZooErrors: printed as one line, exit code 2, no traceback.
A closed stdout (``| head``) ends printing quietly; a training run goes on to its end.
Each topic's commands live in their own module and attach to the one ``app``.
"""

from __future__ import annotations

import os
import sys
import warnings

from zoo.cli import bench, check, export, listing, serve, training, using  # noqa: F401  (they register their commands)
from zoo.cli.app import app, err, safe
from zoo.errors import ZooError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: run the app and turn ZooErrors into one clean line."""
    # torch warns on import when numpy is absent; zoo does not need numpy.
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    try:
        app()
    except ZooError as exc:
        if os.environ.get("RANK", "0") == "0":  # under torchrun, say it once
            err.print(safe(f"error: {exc}"))
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # The reader of stdout left (`zoo list | head -1`): that is not an error. Training never
        # gets here (its progress stops printing and the run goes on); anything else had
        # nothing more to say.
        from zoo.progress import silence_stdout

        silence_stdout()
        sys.exit(0)
