"""The run folder: file names, lock, metrics log, resolved configuration and outcome.

One module owns the layout, so training, resuming, ``zoo runs``, ``zoo plot`` and ``zoo
eval RUN`` agree on it. A live run holds an OS lock on ``.lock`` (a crashed run cannot
leave it stuck). ``metrics.jsonl`` is appended and flushed per epoch; a crash can only
tear the last line, which readers skip with a warning and the next append repairs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, ZooError
from zoo.files.metricslog import MetricsWriter, epoch_records
from zoo.files.outpath import unlink_quietly, write_error
from zoo.files.strictjson import parse_json
from zoo.jsonout import nulled

LAST = "last.safetensors"
BEST = "best.safetensors"
METRICS = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
CONFIG = "config.json"
CURVES = "curves.png"
#: How the run ended: {"status", "reason", "epochs_done"} (``Run.status``), written atomically.
OUTCOME = "outcome.json"
LOCK = ".lock"
#: The link in ``runs/<model>/`` to the newest run of that model.
LATEST = "latest"
#: Cross-validation's summary of its fold runs, in the folder that holds them.
FOLDS = "folds.json"
#: Pictures of a model's errors that ``zoo eval`` and ``zoo plot`` draw beside the curves.
CONFUSION = "confusion.png"
RESIDUALS = "residuals.png"
#: A grid search's table (searched values, then the loss), written by a strategy as an artifact.
GRID = "grid.csv"


class RunFolder:
    """A run folder on disk (it may not exist yet)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._log = MetricsWriter(self.path / METRICS, self.path / METRICS_CSV)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def last(self) -> Path:
        return self.path / LAST

    @property
    def best(self) -> Path:
        return self.path / BEST

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    def file(self, name: str) -> Path:
        return self.path / name

    def holds_run(self) -> bool:
        """True when a run has written here (a checkpoint or any metrics)."""
        return self.last.exists() or self.best.exists() or (self.metrics.exists() and self.metrics.stat().st_size > 0)

    def prepare(self) -> None:
        """Make the folder and take its lock; refuse a path that cannot be a folder."""
        for parent in [self.path, *self.path.parents]:
            _no_broken_link(parent, f"cannot use {self.path} as a run folder")
            if parent.exists() and not parent.is_dir():
                raise UsageError(f"cannot use {self.path} as a run folder: {parent} is a file")
        created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.path, exc, "create run folder") from None
        if not os.access(self.path, os.W_OK):
            raise UsageError(f"cannot write to run folder {self.path}: permission denied")
        try:
            self.lock()
        except ZooError:
            if created:  # a folder this call made and could not use: leave nothing behind
                with contextlib.suppress(OSError):
                    self.path.rmdir()
            raise

    def lock(self) -> None:
        """Hold an exclusive lock for as long as this process runs here."""
        try:
            import fcntl
        except ImportError:  # no POSIX locks (Windows): go on without
            return
        lock = self.path / LOCK
        existed = os.path.lexists(lock)
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(lock, exc, "create the lock file") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise UsageError(
                f"run folder {self.path} is in use by a live run (pid {holder})",
                hint="wait for it to finish, or pass another --out",
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode("ascii"))
        except OSError as exc:
            os.close(fd)
            if not existed:
                unlink_quietly(lock)
            raise write_error(lock, exc) from None
        self._lock_fd = fd

    def live_holder(self) -> str | None:
        """The pid of a live run holding this folder's lock, or None (peeks without keeping it)."""
        try:
            import fcntl
        except ImportError:
            return None
        try:
            fd = os.open(self.path / LOCK, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return os.read(fd, 64).decode("ascii", "replace").strip() or "another process"
        finally:
            os.close(fd)
        return None

    def unlock(self) -> None:
        self.close_logs()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the lock
            self._lock_fd = None

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Add one epoch's record to ``metrics.jsonl`` and ``metrics.csv`` (kept open until ``close_logs``)."""
        self._log.append(record)

    def close_logs(self, quietly: bool = False) -> None:
        """Close the metrics files the run keeps open for appending."""
        self._log.close(quietly)

    def read_metrics(self, warn: bool = True) -> list[dict[str, Any]]:
        """Every readable record; lines that are not epoch records are skipped with one warning.

        A missing log is no records; a log that is not a regular file, or larger than the
        limit for logs, is a DataError naming it (``metricslog`` reads it line by line).
        """
        return list(epoch_records(self.metrics, warn))

    def keep_metrics(self, upto_epoch: int) -> list[dict[str, Any]]:
        """Drop records after ``upto_epoch`` (a crash between log and save); return the rest."""
        self.close_logs()  # the files are replaced below
        rows = [r for r in self.read_metrics() if r["epoch"] <= upto_epoch]
        self._write_atomic(METRICS, "".join(json.dumps(nulled(r), allow_nan=False) + "\n" for r in rows))
        self._log.rebuild_csv(rows)
        return rows

    def _write_atomic(self, name: str, text: str) -> None:
        """Replace ``name`` by ``text`` through a hidden temp file; a failed write leaves neither behind."""
        temp = self.path / f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            with open(temp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(temp, self.file(name))
        except OSError as exc:
            unlink_quietly(temp)
            raise write_error(self.file(name), exc) from None

    def write_config(self, config: dict[str, Any]) -> None:
        self._write_json(CONFIG, config)

    def _write_json(self, name: str, value: dict[str, Any]) -> None:
        text = json.dumps(nulled(value), indent=2, allow_nan=False) + "\n"
        parse_json(text, self.file(name), name)  # what zoo could not read back never replaces the file there
        self._write_atomic(name, text)

    def write_outcome(self, status: str, reason: str | None, epochs_done: int) -> None:
        """Say how the run ended: finished, or stopped by a callback (and why)."""
        self._write_json(OUTCOME, {"status": status, "reason": reason, "epochs_done": epochs_done})

    def read_config(self, strict: bool = False) -> dict[str, Any]:
        """The run's config.json; ``{}`` when missing, or damaged unless ``strict`` (resuming needs it)."""
        from zoo.files.readfile import read_json

        if not os.path.lexists(self.config):
            return {}
        try:
            data = read_json(self.config, "a run's config.json")
        except UsageError:
            if strict:
                raise
            return {}
        if isinstance(data, dict):
            return data
        if strict:
            raise UsageError(f"{self.config} is not a JSON object", hint="it holds the run's resolved configuration")
        return {}

    def clean_temp_files(self) -> None:
        """Remove hidden temp files that killed writers left behind (never a final name)."""
        for temp in self.path.glob(".*.tmp-*"):
            try:
                pid = int(temp.name.rsplit("-", 2)[-2]) if temp.name.count("-") >= 2 else 0
            except ValueError:
                pid = 0
            if pid and pid != os.getpid() and not pid_alive(pid):
                temp.unlink(missing_ok=True)

    def link_latest(self) -> None:
        """Point ``<parent>/latest`` at this run (best effort: some systems have no symlinks)."""
        link = self.path.parent / LATEST
        temp = self.path.parent / f".{LATEST}.tmp-{os.getpid()}"
        try:
            temp.unlink(missing_ok=True)
            temp.symlink_to(self.path.name, target_is_directory=True)
            os.replace(temp, link)
        except OSError:
            temp.unlink(missing_ok=True)


def _no_broken_link(place: Path, doing: str) -> None:
    if os.path.islink(place) and not place.exists():
        raise UsageError(
            f"{doing}: {place} is a symlink to nothing ({os.readlink(place)}) or to itself",
            hint="remove the link (or make it point at a folder), or pass --out RUN_DIR",
        )


def pid_alive(pid: int) -> bool:
    """Whether a process of this id exists on this machine (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_run_path(model: str, root: str | Path = "runs") -> Path:
    """A fresh folder ``runs/<model>/<date-time>``; ``-2``, ``-3``... when two runs start in one second."""
    parent = Path(root) / model
    for place in (parent, parent.parent):
        _no_broken_link(place, f"cannot make a run folder under {parent}")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"cannot make a run folder under {parent}: it is not a folder", hint="pass --out") from None
    except OSError as exc:
        raise write_error(parent, exc, "create run folders in") from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        path = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()  # atomic: exactly one process creates each name
        except FileExistsError:
            continue
        except OSError as exc:
            raise write_error(path, exc, "create run folder") from None
        return path
    raise UsageError(f"cannot find a free run folder name under {parent}")


def resolve_run(path: str | Path) -> Path:
    """A run folder given where a checkpoint is expected: its best (else last) checkpoint."""
    folder = Path(path)
    for name in (BEST, LAST):
        if (folder / name).is_file():
            return folder / name
    raise UsageError(f"{folder} is a folder without {BEST} or {LAST}", hint="give a run folder made by zoo train")
