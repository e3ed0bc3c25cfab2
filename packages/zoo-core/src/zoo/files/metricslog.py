"""A run's metrics log: appended per epoch, read one record at a time so memory follows one record.

``MetricsWriter`` appends each epoch's record to ``metrics.jsonl`` (flushed, so a crash can
only tear the last line, which the next append cuts off) and its scalars to ``metrics.csv``.

The log may be as large as the cap for logs (``readfile.LIMITS["log"]``); the records
are read line by line from one regular-file handle, each line at most MAX_RECORD_BYTES
(longer ones are skipped, never held whole), so ``zoo runs`` over many large logs keeps
only a summary of each. Lines that are not epoch records are skipped with one warning.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import DataError, UsageError
from zoo.files.outpath import write_error
from zoo.files.readfile import limit, open_regular, read_bytes, too_large
from zoo.files.strictjson import parse_json
from zoo.jsonout import nulled

#: Longest line read as an epoch record (a record of a few hundred metrics is a few KB).
MAX_RECORD_BYTES = 1 << 20
#: Record keys that count epochs or steps, not a result to sort by.
NOT_METRICS = ("epoch", "step")
#: Metric names a summary remembers (for a hint only); a log naming more is damage, not a run.
MAX_NAMES = 1_000


def epoch_records(path: Path, warn: bool = True) -> Iterator[dict[str, Any]]:
    """The epoch records of ``path`` in order; a missing log has none.

    A log that is not a regular file, or larger than the limit for logs, is a DataError
    naming it (raised when the reading gets there).
    """
    if not os.path.lexists(path):
        return
    cap = limit("log")
    bad: list[int] = []
    total = 0
    with io.BufferedReader(open_regular(path, "a metrics log"), 1 << 16) as handle:
        for number in range(1, sys.maxsize):
            try:
                line = handle.readline(MAX_RECORD_BYTES + 1)
                size = len(line)
                while len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):  # too long: skip, unread
                    more = handle.readline(MAX_RECORD_BYTES)
                    size += len(more)
                    if not more or more.endswith(b"\n") or total + size > cap:
                        break
            except OSError as exc:
                raise DataError(f"cannot be read: {exc.strerror or exc}", path) from None
            if not line:
                break
            total += size
            if total > cap:
                raise too_large(path, "a metrics log", cap)
            row = _record(line, path) if size <= MAX_RECORD_BYTES else None
            if row is not None:
                yield row
            elif line.strip():
                bad.append(number)
    if bad and warn:
        lines = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        print(f"warning: {path}: skipped line(s) {lines}: not epoch records", file=sys.stderr)


def _record(line: bytes, path: Path) -> dict[str, Any] | None:
    text = line.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        row = parse_json(text, path, "an epoch record")
    except UsageError:
        return None
    if isinstance(row, dict) and isinstance(row.get("epoch"), int) and not isinstance(row["epoch"], bool):
        return row
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class Summary:
    """What ``zoo runs`` shows of a log: its epochs, its metric names and the best of the ``wanted`` ones."""

    wanted: tuple[str, ...] = ()
    epochs: int = 0
    metrics: set[str] = field(default_factory=set)
    lowest: dict[str, float] = field(default_factory=dict)
    highest: dict[str, float] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        self.epochs += 1
        if len(self.metrics) < MAX_NAMES:
            self.metrics.update(k for k, v in row.items() if k not in NOT_METRICS and _number(v))
        for key in self.wanted:
            value = row.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= sys.float_info.max:
                number = float(value)
                self.lowest[key] = min(self.lowest.get(key, number), number)
                self.highest[key] = max(self.highest.get(key, number), number)


def summarize(path: Path, wanted: tuple[str, ...], warn: bool = True) -> Summary:
    """One pass over the log at ``path``, holding one record at a time and the summary."""
    summary = Summary(wanted)
    for row in epoch_records(path, warn):
        summary.add(row)
    return summary


class MetricsWriter:
    """Appends epoch records to ``metrics.jsonl`` and their scalars to ``metrics.csv``.

    Both files stay open while the run appends (a small model logs thousands of epochs);
    each record is flushed, so a crash loses at most the line being written.
    """

    def __init__(self, jsonl: Path, table: Path) -> None:
        self.jsonl, self.table = jsonl, table
        self._header: list[str] = []
        self._jsonl_fh: Any = None
        self._table_fh: Any = None

    def append(self, record: dict[str, Any]) -> None:
        """Add one record; a torn last line (a crash mid-write) is cut off first."""
        line = json.dumps(nulled(record), allow_nan=False) + "\n"
        try:
            fh = self._jsonl_fh
            if fh is None:
                fh = open(self.jsonl, "a+b")  # noqa: SIM115 - kept open until close()
                self._jsonl_fh = fh
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    self.close(quietly=True)
                    raise UsageError(f"{self.jsonl} is not a regular file", hint="remove it, or pass another --out")
                size = fh.seek(0, os.SEEK_END)
                if size:
                    fh.seek(max(size - 1, 0))
                    if fh.read(1) != b"\n":
                        _cut_torn_tail(fh)
            fh.write(line.encode("utf-8"))
            fh.flush()
        except OSError as exc:
            self.close(quietly=True)
            raise write_error(self.jsonl, exc, "append to") from None
        try:
            self._append_row(record)
        except OSError as exc:
            self.close(quietly=True)
            raise write_error(self.table, exc, "append to") from None

    def close(self, quietly: bool = False) -> None:
        """Close both files; ``quietly`` ignores a buffered rest that cannot be written (a full disk)."""
        handles = (self._jsonl_fh, self._table_fh)
        self._jsonl_fh = self._table_fh = None
        for fh in handles:
            if fh is not None:
                try:
                    fh.close()
                except OSError:
                    if not quietly:
                        raise

    def rebuild_csv(self, rows: list[dict[str, Any]]) -> None:
        """Write ``metrics.csv`` again from ``rows`` (after the log was cut back to them)."""
        try:
            self.table.unlink(missing_ok=True)
            self._header = []
            for row in rows:
                self._append_row(row)
        except OSError as exc:
            self.close(quietly=True)
            raise write_error(self.table, exc) from None

    def _append_row(self, record: dict[str, Any]) -> None:
        """The same numbers as CSV for spreadsheets and pandas (scalar columns only)."""
        row = {k: v for k, v in record.items() if isinstance(v, (int, float, str)) or v is None}
        header: list[str] = self._header
        if not header and os.path.lexists(self.table):
            text = read_bytes(self.table, "log", "a metrics log").decode("utf-8", "replace")
            header = next(csv.reader(text.splitlines()[:1]), [])
        if self._table_fh is None:
            self._table_fh = open(self.table, "a", encoding="utf-8", newline="")  # noqa: SIM115 - see close()
            if not header:
                header = list(row)
                csv.writer(self._table_fh).writerow(header)
        csv.writer(self._table_fh).writerow([row.get(k, "") for k in header])
        self._table_fh.flush()
        self._header = header


def _cut_torn_tail(fh: Any) -> None:
    fh.seek(0)
    data = fh.read()
    fh.truncate(data.rfind(b"\n") + 1)
    fh.seek(0, os.SEEK_END)
