"""The one way zoo reads a file it is given: regular files only, bounded in size.

A path from the command line, a run folder or a data folder may be a pipe that never
ends, a device such as ``/dev/zero``, a folder, a symlink to any of those, or a small
gzip file that inflates to gigabytes. Every reader of such files goes through here, so
each of those is one error naming the file, what it is and the limit that applies
(and how to raise it), never a hang, an exhausted memory or a misleading message.
No torch: the CLI uses it before anything heavy is imported.

JSON files are read strictly (``zoo.files.strictjson``).
"""

from __future__ import annotations

import io
import os
import re
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import DataError, UsageError
from zoo.files.strictjson import parse_json

MiB = 1 << 20

#: Default caps by kind of file, in bytes. ``ZOO_MAX_FILE_MB`` replaces all of them.
LIMITS: dict[str, int] = {
    "config": 4 * MiB,  # --config, config.json, a --baseline, manifests
    "log": 256 * MiB,  # metrics.jsonl, metrics.csv
    "text": 64 * MiB,  # a text corpus (--text, --csv of inputs)
    "image": 64 * MiB,  # one picture file (predict, serve, an image folder)
    "data": 512 * MiB,  # a CSV data set, after gunzip
    "dataset": 1024 * MiB,  # a data set's binary files (MNIST's IDX files), after gunzip
}
ENV = "ZOO_MAX_FILE_MB"
#: Bytes read or inflated per step.
CHUNK = MiB

_GZIP_MAGIC = b"\x1f\x8b"
_NOT_ZERO = re.compile(rb"[^\x00]")


class NotRegularFile(DataError):
    """A path that is not (a link to) a readable regular file; ``problem`` says what it is instead.

    ``kind`` is one of missing, broken-link, folder, fifo, device, socket, other, unreadable,
    so that a caller with its own error type (checkpoints) can keep its own wording.
    """

    def __init__(self, problem: str, path: Path, kind: str, hint: str | None) -> None:
        super().__init__(problem, path, hint=hint)
        self.problem = problem
        self.kind = kind


def limit(kind: str) -> int:
    """The byte cap for one kind of file: ZOO_MAX_FILE_MB (MiB, fractions allowed) when set, else the default."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return LIMITS[kind]
    try:
        mb = float(value)
    except ValueError:
        mb = float("nan")
    if not 0 < mb < 1e9:  # also refuses nan and inf
        raise UsageError(
            f"{ENV} must be a positive number of MiB, got {value!r}",
            hint=f"unset it to use the defaults, e.g. {LIMITS['data'] // MiB} MiB for a CSV data set",
        )
    return max(1, int(mb * MiB))


def size_text(n: int) -> str:
    """A byte count as people read limits: '512 MiB', '1.5 MiB', '300 bytes'."""
    return f"{n / MiB:.4g} MiB" if n >= MiB else f"{n} bytes"


def too_large(path: str | Path, what: str, cap: int, inflated: bool = False) -> DataError:
    """The error for a file over its cap, naming the cap and the variable that raises it."""
    state = "inflates to more than" if inflated else "is larger than"
    return DataError(
        f"{state} the {size_text(cap)} limit for {what}",
        path,
        hint=f"check that this is the right file; set {ENV} (in MiB) to raise the limit",
    )


_KINDS: tuple[tuple[Any, str, str], ...] = (
    (stat.S_ISDIR, "folder", "is a folder, not a file"),
    (stat.S_ISFIFO, "fifo", "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "device", "is a device, not a regular file"),
    (stat.S_ISBLK, "device", "is a device, not a regular file"),
    (stat.S_ISSOCK, "socket", "is a socket, not a regular file"),
)


def _refuse_mode(file: Path, mode: int, what: str, hint: str | None) -> NotRegularFile:
    kind, problem = "other", "is not a regular file"
    for test, name, text in _KINDS:
        if test(mode):
            kind, problem = name, text
            break
    if os.path.islink(file):
        problem = "is a symlink to " + (
            problem[3:] if problem.startswith("is a ") else "something that is not a regular file"
        )
    return NotRegularFile(problem, file, kind, hint or f"give {what}")


def _unreadable(file: Path, exc: OSError | ValueError, what: str, hint: str | None) -> NotRegularFile:
    if isinstance(exc, FileNotFoundError):
        if os.path.islink(file):
            return NotRegularFile("is a symlink to a missing file", file, "broken-link", hint or f"give {what}")
        return NotRegularFile("no such file", file, "missing", hint or "check the path")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return NotRegularFile(f"cannot be read: {reason}", file, "unreadable", hint)


def check_regular(path: str | Path, what: str = "a file", hint: str | None = None) -> Path:
    """``path`` if it is (or links to) a regular file; else a NotRegularFile saying what it is instead."""
    file = Path(path)
    try:
        mode = os.stat(file).st_mode
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise _unreadable(file, exc, what, hint) from None
    if not stat.S_ISREG(mode):
        raise _refuse_mode(file, mode, what, hint)
    return file


def open_regular(path: str | Path, what: str = "a file", hint: str | None = None) -> io.FileIO:
    """An unbuffered binary handle on a regular file, checked before and after opening.

    The path is checked first (so a device is never opened), then opened without blocking
    and checked again with fstat on the descriptor, so a FIFO swapped in between cannot hang
    the open and nothing is read from it.
    """
    file = check_regular(path, what, hint)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(file, flags)
    except (OSError, ValueError) as exc:
        raise _unreadable(file, exc, what, hint) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise _unreadable(file, exc, what, hint) from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _refuse_mode(file, mode, what, hint)
    return io.FileIO(fd, "rb", closefd=True)


def read_bytes(path: str | Path, kind: str, what: str, hint: str | None = None) -> bytes:
    """The file's bytes, at most ``limit(kind)`` of them; anything but a regular file is refused.

    Reads until the end of the file rather than trusting its size, so a file that grows while
    it is read (or reports size 0, as /proc files do) is still bounded by the cap.
    """
    file = Path(path)
    cap = limit(kind)
    with open_regular(file, what, hint) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > cap:
            raise too_large(file, what, cap)
        chunks: list[bytes] = []
        total = 0
        want = size + 1  # one read for a file that keeps its size; one more byte sees growth
        while True:
            try:
                block = handle.read(want)
            except OSError as exc:
                raise DataError(f"cannot be read: {exc.strerror or exc}", file) from None
            if not block:
                break
            chunks.append(block)
            total += len(block)
            if total > cap:
                raise too_large(file, what, cap)
            want = min(CHUNK, cap + 1 - total)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def is_gzip(data: bytes) -> bool:
    """Whether ``data`` opens with gzip's magic bytes (what gzip(1) goes by, not the file name)."""
    return data[:2] == _GZIP_MAGIC


def _bad_gzip(path: str | Path, why: str) -> DataError:
    return DataError(f"is not a valid gzip file ({why})", path, hint="fetch or compress it again")


def gunzip_chunks(data: bytes, path: str | Path, chunk: int = CHUNK) -> Iterator[bytes]:
    """The inflated bytes of gzip ``data`` (every member), in pieces of at most ``chunk`` bytes.

    Nothing is inflated ahead of the consumer, so a caller that stops iterating at its cap
    never holds more than cap + ``chunk`` bytes. Accepts what Python's gzip module accepts:
    members one after another, zero bytes between them; a damaged or cut stream, or bytes
    after the last member that are not another member, are a DataError.
    """
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        full = False  # the last call filled its output limit: zlib may hold more output
        while not inflater.eof:
            tail = inflater.unconsumed_tail
            if tail or full:
                piece: bytes | memoryview = tail
            elif pos < len(view):
                piece = view[pos : pos + CHUNK]
                pos += len(piece)
            else:
                raise DataError("is not a complete gzip file (it ends early)", path, hint="fetch it again")
            try:
                out = inflater.decompress(piece, chunk)
            except zlib.error as exc:
                raise _bad_gzip(path, str(exc)) from None
            full = len(out) == chunk
            if out:
                yield out
        pos -= len(inflater.unused_data)  # the bytes after this member
        found = _NOT_ZERO.search(data, pos)
        pos = found.start() if found else len(view)
        if pos < len(view) and bytes(view[pos : pos + 2]) != _GZIP_MAGIC:
            raise _bad_gzip(path, f"{len(view) - pos} bytes after the end of the compressed data")


def gunzip(data: bytes, path: str | Path, kind: str, what: str, cap: int | None = None) -> bytes:
    """Inflate gzip data (several members too) without ever holding more than the cap.

    The cap is ``limit(kind)`` unless ``cap`` gives an exact size (e.g. from a header).
    """
    most = limit(kind) if cap is None else cap
    out = bytearray()
    for piece in gunzip_chunks(data, path, chunk=min(CHUNK, most + 1)):
        out += piece
        if len(out) > most:
            raise too_large(path, what, most, inflated=True)
    return bytes(out)


def read_maybe_gzipped(path: str | Path, kind: str, what: str, hint: str | None = None) -> bytes:
    """The file's bytes, inflated when it is gzip (by magic bytes), each step under the cap."""
    raw = read_bytes(path, kind, what, hint)
    return gunzip(raw, path, kind, what) if is_gzip(raw) else raw


def decode_utf8(data: bytes, path: str | Path, hint: str = "save the file as UTF-8") -> str:
    """Text from bytes; a byte that is not UTF-8 is an error at its line and byte offset."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = int(exc.start)
        line = data.count(b"\n", 0, offset) + 1
        bad = data[offset : int(exc.end)].hex(" ")
        raise DataError(f"not valid UTF-8: byte 0x{bad} at byte offset {offset}", path, line, hint=hint) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: str | Path, kind: str, what: str, hint: str | None = None) -> str:
    """A bounded regular file as UTF-8 text (a byte-order mark dropped)."""
    return decode_utf8(read_bytes(path, kind, what, hint), path)


def read_json(path: str | Path, what: str, kind: str = "config", hint: str | None = None) -> Any:
    """A bounded regular file holding one strict JSON document."""
    return parse_json(read_text(path, kind, what, hint), path, what)
