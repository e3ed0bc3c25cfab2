"""One worker of ``--workers N`` (``zoo.tuning.workers``): read the arguments, tune, exit as the CLI would."""

from __future__ import annotations

import json
import sys

from zoo.errors import ZooError


def main() -> None:
    """A worker's entry point: read the arguments, tune, and exit as the CLI would."""
    from zoo.tuning.study import tune

    arguments = json.loads(sys.stdin.read())
    quiet = arguments.pop("quiet", False)
    try:
        tune(**arguments, workers=1, say=None if quiet else _say, _worker=True)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


def _say(line: str) -> None:
    print(line, flush=True)
