"""Reading a run's ``metrics.jsonl`` one record at a time, so memory follows one record, not the log.

The log may be as large as the cap for logs (``readfile.LIMITS["log"]``); the records
are read line by line from one regular-file handle, each line at most MAX_RECORD_BYTES
(longer ones are skipped, never held whole), so ``zoo runs`` over many large logs keeps
only a summary of each. Lines that are not epoch records are skipped with one warning.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import DataError, UsageError
from zoo.files.readfile import limit, open_regular, parse_json, too_large

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
