"""Where a run is written, decided while planning: ``--out``, torchrun's stable folder or a fresh one.

A new run must not take a folder a live run holds or a finished run fills; a resumed run
keeps its own folder and settings. The fresh ``runs/<model>/<time>`` folder itself is made
only when training starts (the trainer), so a plan that fails leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

from zoo.errors import UsageError
from zoo.files.runfolder import RunFolder
from zoo.training.distributed import DistEnv
from zoo.training.runconfig import RunOptions, refused_on_resume


def default_run_dir(name: str, out: str | Path | None, dist: DistEnv) -> Path | None:
    """``--out``; under torchrun a folder every rank and restart agrees on; else None (made at start)."""
    if out is not None:
        return Path(out)
    if dist.enabled:
        if dist.run_id and dist.run_id != "none":
            # Stable across elastic restarts, so restarted workers find the checkpoint.
            return Path("runs") / name / f"torchrun-{dist.run_id}"
        raise UsageError("under torchrun without a rendezvous id, pass --out RUN_DIR so every rank uses one folder")
    return None  # a fresh runs/<model>/<time> folder, made when training starts


def refuse_with_resume(options: RunOptions, resume: Path) -> None:
    """A resumed run keeps its own folder and the settings declared ``on_resume="keep"`` (seed, precision...)."""
    refused = refused_on_resume(options)
    if options.out is not None and Path(options.out) != resume:
        refused.append("--out")
    if refused:
        raise UsageError(
            f"{', '.join(refused)} cannot be given with --resume: the run keeps its own settings",
            hint="start a new run to change them",
        )


def check_free(run_dir: Path | None) -> None:
    """A new run needs a folder no live run holds and no finished run fills."""
    if run_dir is None:
        return
    holder = RunFolder(run_dir).live_holder()
    if holder is not None:
        raise UsageError(f"run folder {run_dir} is in use by a live run (pid {holder})", hint="pick another --out")
    if RunFolder(run_dir).holds_run():
        # The hint names no path after a flag: zoo.train rewords "--resume X" for Python callers.
        raise UsageError(
            f"{run_dir} already holds a run",
            hint="continue it with --resume RUN_DIR (that folder), or pick another --out",
        )
