"""Why a run stopped early, in words a person can act on, and the command that continues it.

Ctrl-C or SIGTERM (``Interrupted``: the state was saved, the run resumes), numbers that
blew up (the last finite weights on disk are named), a model that cannot run on its data
(the options that may not fit are named) and a callback's stop (how to train on).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import torch

from zoo.contracts.spec import ModelSpec
from zoo.errors import TrainingError, UsageError, ZooError
from zoo.plugins.local import FIT_DISTRIBUTION


class Interrupted(ZooError):
    """Ctrl-C or SIGTERM during training: the state was saved and the run can be resumed."""

    exit_code = 130


def resume_command(spec: ModelSpec, run_dir: Path, given_data_dir: Path | None) -> str:
    """The command that continues this run from its folder, with the paths it needs.

    Path options of the data come back from the folder's config.json; the data folder
    does too, but it is named here so that the command reads the same anywhere.
    """
    if spec.distribution == FIT_DISTRIBUTION:  # a module of the user's: only Python has it
        return f"zoo.fit(module, data, ..., resume={str(run_dir)!r})"
    words = ["zoo", "train", spec.full_name, "--resume", str(run_dir)]
    if given_data_dir is not None:
        words += ["--data-dir", str(given_data_dir)]
    return " ".join(shlex.quote(w) for w in words)


def mismatch(exc: BaseException, spec: ModelSpec, config: dict[str, Any], device: torch.device) -> ZooError:
    """A model that cannot run on the data (a config contradicting it) is the user's to fix."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, torch.OutOfMemoryError):
        return TrainingError(f"out of memory on {device}: {text}", hint="try a smaller --batch-size")
    given = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in config.items())
    return UsageError(
        f"{spec.full_name} cannot train on this data: {text}",
        hint=(f"the options {given} may not fit the data; " if given else "") + "see zoo info " + spec.full_name,
    )


def diverged(what: str, epoch: int, kept: list[Path]) -> TrainingError:
    """A run whose numbers blew up in ``epoch`` (0-based), naming the finite weights ``kept`` on disk."""
    hint = "try a lower --lr"
    if kept:
        hint = f"the last good weights are in {' and '.join(str(f) for f in kept)}; {hint}"
    return TrainingError(f"{what} in epoch {epoch + 1}; the run diverged and stopped", hint=hint)


def stopped_line(epoch: int, reason: str, command: str, spec: ModelSpec, early_stop: bool) -> str:
    """What a run stopped by a callback after ``epoch`` (0-based) prints: why, and how to train on."""
    more = " --early-stop 0" if early_stop else ""
    if more and spec.distribution == FIT_DISTRIBUTION:
        more = " with early_stop=0"
    return f"stopped after epoch {epoch + 1}: {reason}; to train on: {command}{more}"
