"""The run folder: its file names, its lock, its metrics log and its resolved configuration.

One module owns the layout so that training, resuming, ``zoo runs``, ``zoo plot`` and
``zoo eval RUN`` agree on it. A live run holds an exclusive lock on ``.lock`` (an OS
lock: a crashed run cannot leave it stuck), so two processes never share a folder.
``metrics.jsonl`` gets one JSON object per line, appended and flushed per epoch; a
crash can only tear the last line, which readers skip with a warning and the next
append repairs.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from zoo.errors import UsageError

LAST = "last.safetensors"
BEST = "best.safetensors"
METRICS = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
CONFIG = "config.json"
CURVES = "curves.png"
LOCK = ".lock"
#: The link in ``runs/<model>/`` to the newest run of that model.
LATEST = "latest"


def clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null (strict JSON has no Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


class RunFolder:
    """A run folder on disk (it may not exist yet)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._csv_header: list[str] = []
        # Open while the run appends: a small model logs thousands of epochs.
        self._metrics_fh: Any = None
        self._csv_fh: Any = None

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- names ----------------------------------------------------------------
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

    # -- creating and locking -------------------------------------------------
    def prepare(self) -> None:
        """Make the folder and take its lock; refuse a path that cannot be a folder."""
        for parent in [self.path, *self.path.parents]:
            if parent.exists() and not parent.is_dir():
                raise UsageError(f"cannot use {self.path} as a run folder: {parent} is a file")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create run folder {self.path}: {exc.strerror or exc}") from None
        if not os.access(self.path, os.W_OK):
            raise UsageError(f"cannot write to run folder {self.path}: permission denied")
        self.lock()

    def lock(self) -> None:
        """Hold an exclusive lock for as long as this process runs here."""
        try:
            import fcntl
        except ImportError:  # no POSIX locks (Windows): go on without
            return
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise UsageError(
                f"run folder {self.path} is in use by a live run (pid {holder})",
                hint="wait for it to finish, or pass another --out",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
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

    # -- metrics --------------------------------------------------------------
    def append_metrics(self, record: dict[str, Any]) -> None:
        """Add one epoch's record; a torn last line (a crash mid-write) is cut off first."""
        line = json.dumps(clean(record), allow_nan=False) + "\n"
        fh = self._metrics_fh
        if fh is None:
            fh = open(self.metrics, "a+b")  # noqa: SIM115 - kept open until close_logs()
            size = fh.seek(0, os.SEEK_END)
            if size:
                fh.seek(max(size - 1, 0))
                if fh.read(1) != b"\n":
                    self._cut_torn_tail(fh, size)
            self._metrics_fh = fh
        fh.write(line.encode("utf-8"))
        fh.flush()  # each record reaches the OS at once: a crash loses at most the line being written
        self._append_csv(record)

    def close_logs(self) -> None:
        """Close the metrics files the run keeps open for appending."""
        for fh in (self._metrics_fh, self._csv_fh):
            if fh is not None:
                fh.close()
        self._metrics_fh = self._csv_fh = None

    @staticmethod
    def _cut_torn_tail(fh: Any, size: int) -> None:
        fh.seek(0)
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        fh.seek(0, os.SEEK_END)

    def _append_csv(self, record: dict[str, Any]) -> None:
        """The same numbers as CSV for spreadsheets and pandas (scalar columns only)."""
        import csv

        path = self.file(METRICS_CSV)
        row = {k: v for k, v in record.items() if isinstance(v, (int, float, str)) or v is None}
        header: list[str] = self._csv_header
        if not header and path.exists():
            with open(path, encoding="utf-8", newline="") as fh:
                header = next(csv.reader(fh), [])
        if self._csv_fh is None:
            self._csv_fh = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - see close_logs()
            if not header:
                header = list(row)
                csv.writer(self._csv_fh).writerow(header)
        csv.writer(self._csv_fh).writerow([row.get(k, "") for k in header])
        self._csv_fh.flush()
        self._csv_header = header

    def read_metrics(self, warn: bool = True) -> list[dict[str, Any]]:
        """Every readable record; lines that are not epoch records are skipped with one warning."""
        if not self.metrics.is_file():
            return []
        rows: list[dict[str, Any]] = []
        bad: list[int] = []
        with open(self.metrics, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError):
                    row = None
                if isinstance(row, dict) and isinstance(row.get("epoch"), int) and not isinstance(row["epoch"], bool):
                    rows.append(row)
                else:
                    bad.append(number)
        if bad and warn:
            lines = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
            print(f"warning: {self.metrics}: skipped line(s) {lines}: not epoch records", file=sys.stderr)
        return rows

    def keep_metrics(self, upto_epoch: int) -> list[dict[str, Any]]:
        """Drop records after ``upto_epoch`` (a crash between log and save); return the rest."""
        self.close_logs()  # the files are replaced below
        rows = [r for r in self.read_metrics() if r["epoch"] <= upto_epoch]
        temp = self.path / f".{METRICS}.tmp-{os.getpid()}"
        temp.write_text("".join(json.dumps(clean(r), allow_nan=False) + "\n" for r in rows), encoding="utf-8")
        os.replace(temp, self.metrics)
        self.file(METRICS_CSV).unlink(missing_ok=True)  # rebuilt from the kept records
        self._csv_header = []
        for row in rows:
            self._append_csv(row)
        return rows

    # -- configuration ----------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        temp = self.path / f".{CONFIG}.tmp-{os.getpid()}"
        temp.write_text(json.dumps(clean(config), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(temp, self.config)

    def read_config(self) -> dict[str, Any]:
        try:
            data = json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}

    def clean_temp_files(self) -> None:
        """Remove hidden temp files that killed writers left behind (never a final name)."""
        for temp in self.path.glob(".*.tmp-*"):
            try:
                pid = int(temp.name.rsplit("-", 2)[-2]) if temp.name.count("-") >= 2 else 0
            except ValueError:
                pid = 0
            if pid and pid != os.getpid() and not _alive(pid):
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


def _alive(pid: int) -> bool:
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
    parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        path = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()  # atomic: exactly one process creates each name
        except FileExistsError:
            continue
        return path
    raise UsageError(f"cannot find a free run folder name under {parent}")


def resolve_run(path: str | Path) -> Path:
    """A run folder given where a checkpoint is expected: its best (else last) checkpoint."""
    folder = Path(path)
    for name in (BEST, LAST):
        if (folder / name).is_file():
            return folder / name
    raise UsageError(f"{folder} is a folder without {BEST} or {LAST}", hint="give a run folder made by zoo train")
