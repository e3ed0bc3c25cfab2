"""Where a study lives: a journal file beside its trials, or a database any machine can reach.

A journal file (Optuna's ``JournalFileBackend``) is safe for several processes on one
machine; ``sqlite:///FILE`` and ``postgresql://...`` are Optuna's RDB storage, with a
heartbeat, so a trial whose machine died is failed and run again. On this machine zoo
also knows each running trial's process: one whose process is gone is failed at once.
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.files.runfolder import pid_alive

#: The journal file's name in the tune folder when no --storage is given.
JOURNAL = "study.journal"
#: Seconds between two heartbeats of a running trial in an RDB storage.
HEARTBEAT_S = 10
#: A trial whose heartbeat is older than this is failed and its parameters run again.
GRACE_S = 60
#: Seconds to wait for a database to answer before saying it cannot be reached.
CONNECT_TIMEOUT_S = 10
#: Seconds SQLite waits for another process's write lock.
SQLITE_BUSY_S = 60
#: Tries to open a database whose tables another process may be creating at that moment.
SCHEMA_TRIES = 5
#: Longest line of a journal read as a record (Optuna writes a trial's parameters and attributes on one).
MAX_JOURNAL_LINE = 16 << 20
#: How every record of Optuna's journal begins (``json.dumps`` with compact separators).
_RECORD = b'{"op_code":'
#: The user attribute that names a trial's process: host, pid and the process's start time.
OWNER = "zoo_worker"


def shown(url: str) -> str:
    """A storage URL fit to print: the password hidden."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:  # not a URL SQLAlchemy reads: opening it will say so
        return url


def open_storage(url: str | None, folder: Path) -> tuple[Any, str]:
    """(storage, URL or path as shown) for ``--storage`` (None: the journal file in ``folder``)."""

    if url is None or "://" not in url:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        from zoo.files.outpath import check_output

        path = Path(url) if url is not None else folder / JOURNAL
        check_output(path, flag="--storage")
        check_journal(path)
        return JournalStorage(JournalFileBackend(str(path))), str(path)
    where = shown(url)
    url = _with_driver(url)
    connect: dict[str, Any] = {}
    if url.startswith("sqlite"):
        connect["timeout"] = SQLITE_BUSY_S
        file = url.split(":///", 1)[-1] if ":///" in url else ""
        if not file.split("?")[0] or ":memory:" in file or "mode=memory" in file:
            raise UsageError(
                f"--storage {where}: an in-memory SQLite database lives in one process only; "
                "every trial and worker must see the same study",
                hint="give a file: --storage sqlite:///study.db",
            )
        if not Path(file.split("?")[0]).parent.is_dir():
            raise UsageError(f"--storage {where}: no folder {Path(file).parent} for the database file")
    elif url.startswith("postgresql"):
        connect["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        storage = _rdb(url, connect)
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"--storage {where}: its database driver is not installed ({exc.name})",
            hint="pip install 'zoo-core[postgres]'" if url.startswith("postgres") else None,
        ) from None
    except Exception as exc:  # SQLAlchemy's errors: a bad URL, a refused connection, a wrong password
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        raise UsageError(
            f"--storage {where}: cannot be reached: {reason}",
            hint="check the address, the database name and the credentials, and that the server is up",
        ) from None
    return storage, where


def check_journal(path: Path) -> None:
    """Refuse a file that is not an Optuna journal, and cut a torn last record, before Optuna appends.

    Optuna appends after whatever the file ends with: after a line that a killed process
    left half-written, the next record would be glued to it and the journal damaged for
    good; into a file of something else, it would write records. Checked under Optuna's
    own lock on the journal, so a record being written right now is not taken for torn.
    """
    from optuna.storages.journal import JournalFileSymlinkLock
    from optuna.storages.journal._file import get_lock_file

    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with get_lock_file(JournalFileSymlinkLock(str(path))), path.open("rb+") as fh:
            _repair(fh, path)
    except OSError as exc:
        raise UsageError(f"--storage {path}: cannot be read and written: {exc.strerror or exc}") from None


def _repair(fh: Any, path: Path) -> None:
    """Read the journal's records one line at a time; cut a torn last one, refuse any other damage."""
    offset = 0
    for number in range(1, sys.maxsize):
        line = fh.readline(MAX_JOURNAL_LINE + 1)
        if not line:
            return
        if not line.endswith(b"\n") and len(line) <= MAX_JOURNAL_LINE and _record(line, torn=True):
            fh.truncate(offset)
            print(
                f"warning: {path}: cut a torn last record (line {number}), left by a killed process",
                file=sys.stderr,
            )
            return
        if not _record(line):
            what = "is not an Optuna journal" if number == 1 else f"line {number} is not an Optuna record"
            raise UsageError(
                f"--storage {path}: {what}; zoo does not write into it",
                hint="give another --storage file (a new name starts a new journal)"
                if number == 1
                else "the journal is damaged: restore it from a copy, or start a new study in another file",
            )
        offset += len(line)


def _record(line: bytes, torn: bool = False) -> bool:
    """Whether ``line`` is one of Optuna's journal records (``torn``: the start of one, cut short)."""
    import json

    if torn:
        return line.startswith(_RECORD) or _RECORD.startswith(line)
    if not line.startswith(_RECORD) or len(line) > MAX_JOURNAL_LINE:
        return False  # checked before parsing: a file of something else is not read whole
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and isinstance(value.get("op_code"), int)


def _rdb(url: str, connect: dict[str, Any]) -> Any:
    """Optuna's RDB storage with a heartbeat; retried when another process was creating the same tables."""
    import time

    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(SCHEMA_TRIES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs={"connect_args": connect},
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
                )
        except (IntegrityError, ProgrammingError, OperationalError) as exc:
            # Two first starts at once race to create the tables: the later one tries again.
            racing = not isinstance(exc, OperationalError) or any(
                word in str(exc) for word in ("already exists", "database is locked")
            )
            if not racing or attempt == SCHEMA_TRIES - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _with_driver(url: str) -> str:
    """``postgresql://`` through psycopg 3 (zoo-core[postgres]) when psycopg2, SQLAlchemy 2.0's default, is absent."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _started(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (Linux), so a reused pid is told apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def owner() -> dict[str, Any]:
    """This process, as a running trial records it."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _started(os.getpid())}


def _alive(record: dict[str, Any]) -> bool:
    pid = record.get("pid")
    if not isinstance(pid, int):
        return True
    if not pid_alive(pid):
        return False
    return record.get("started") is None or _started(pid) == record.get("started")


def fail_orphans(study: Any) -> list[int]:
    """Fail the RUNNING trials whose process on this machine is gone, and queue their parameters again.

    Returns the numbers of the trials failed. Another process doing the same at the same
    time is harmless: a trial already finished cannot be failed twice.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    host = socket.gethostname()
    failed: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record = trial.user_attrs.get(OWNER)
        if not isinstance(record, dict) or record.get("host") != host or _alive(record):
            continue
        reason = f"its process (pid {record.get('pid')}) ended before the trial did"
        try:
            study._storage.set_trial_user_attr(trial._trial_id, "error", reason)
            if not study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except (UpdateFinishedTrialError, RuntimeError):
            continue  # another process failed it first
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number}, skip_if_exists=False)
        failed.append(trial.number)
    return failed
