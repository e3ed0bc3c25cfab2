"""A CSV file's text, streamed: bytes a chunk at a time (inflated when gzip), then capped lines.

The memory a file costs is one chunk and one line, never the whole text: each line and
the line count are checked as they are read, and the bytes against the data-set cap.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from zoo.plugin import CHUNK, DataError, gunzip_chunks, is_gzip, limit, open_regular, read_bytes, too_large

#: Most lines a file may hold, blank and ``#`` lines included, and the longest line, in characters.
MAX_LINES = 4_000_000
MAX_LINE_CHARS = 4_000_000


def _chunks(path: Path) -> Iterator[bytes]:
    """The file's bytes in pieces, inflated when gzip, never more than the data-set cap in all.

    A plain file is read a chunk at a time; a gzip file (by magic bytes or a ``.gz`` name)
    is read whole, compressed, and inflated a chunk at a time, so neither is ever held
    inflated in memory.
    """
    what = "a CSV data file"
    cap = limit("data")
    with open_regular(path, what) as handle:
        head = handle.read(2) or b""
        gz = is_gzip(head)
        if path.suffix == ".gz" and not gz:
            raise DataError(
                "ends in .gz but is not gzip data", path, hint="rename it, or compress it with gzip"
            )
        if not gz:
            total = len(head)
            yield head
            while True:
                try:
                    block = handle.read(CHUNK)
                except OSError as exc:
                    raise DataError(f"cannot be read: {exc.strerror or exc}", path) from None
                if not block:
                    return
                total += len(block)
                if total > cap:
                    raise too_large(path, what, cap)
                yield block
    raw = read_bytes(path, "data", what)
    total = 0
    for piece in gunzip_chunks(raw, path):
        total += len(piece)
        if total > cap:
            raise too_large(path, what, cap, inflated=True)
        yield piece


def text_lines(path: Path) -> Iterator[str]:
    """The file's lines (ends kept) as UTF-8 text; each line and the line count are capped as read."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = ""
    count = 0
    first = True
    for chunk in _chunks(path):
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line = count + pending.count("\n") + chunk[: int(exc.start)].count(b"\n") + 1
            bad = chunk[int(exc.start) : int(exc.end)].hex(" ")
            raise DataError(
                f"not valid UTF-8: byte 0x{bad}", path, line, hint="save the file as UTF-8 CSV"
            ) from None
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        parts = (pending + text).split("\n")
        pending = parts.pop()
        for part in parts:
            count += 1
            _check_line(part, count, path)
            yield part + "\n"
        _check_line(pending, count + 1, path)
    if pending:
        _check_line(pending, count + 1, path)
        yield pending


def _check_line(text: str, number: int, path: Path) -> None:
    if number > MAX_LINES:
        raise DataError(
            f"has more than {MAX_LINES:,} lines (blank and # lines count too)",
            path,
            hint="train on a sample of the rows",
        )
    if len(text) > MAX_LINE_CHARS:
        raise DataError(
            f"has a line longer than {MAX_LINE_CHARS:,} characters",
            path,
            number,
            hint="one row per line is expected; check the line ends and the quotes",
        )
