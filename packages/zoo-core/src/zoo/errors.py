"""Errors that reach the user as one clear message instead of a traceback.

The CLI prints ``error: <message>`` and exits with ``exit_code``: 2 for anything the
user can fix by changing what they passed (the usual convention for usage errors),
1 for failures during work that was correctly asked for.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path


def did_you_mean(
    name: str, known: Iterable[str], spell: Callable[[str], str] = repr, *, most: int = 2, cutoff: float = 0.6
) -> str | None:
    """``did you mean 'a' or 'b'?`` for the known names close to a misspelt one; None when none is close.

    Every unknown name (model, dataset, option, keyword, config key) is answered alike.
    """
    close = difflib.get_close_matches(name, list(known), n=most, cutoff=cutoff)
    return "did you mean " + " or ".join(spell(c) for c in close) + "?" if close else None


class ZooError(Exception):
    """Base of every error zoo reports without a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(ZooError):
    """Bad names, options or inputs."""

    exit_code = 2


class UnknownModelError(UsageError):
    """A model name that no installed plugin registered."""


class DeviceError(UsageError):
    """A device that does not exist here or cannot do what was asked."""


class NeedsDataError(UsageError):
    """A model with no data of its own was given none: only the user's data can train it."""


class DataError(UsageError):
    """Input data that cannot be used, located as precisely as we can."""

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f", line {line}"
            if column is not None:
                where += f", column {column}"
            where += ": "
        super().__init__(where + message, hint)
        self.path = path
        self.line = line
        self.column = column


class CheckpointError(UsageError):
    """A checkpoint file that is missing, damaged, unsafe or of the wrong model."""

    def __init__(self, path: str | Path, problem: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {problem}", hint)
        self.path = path


class TrainingError(ZooError):
    """Training stopped for a reason the run itself produced (a NaN loss, say)."""
