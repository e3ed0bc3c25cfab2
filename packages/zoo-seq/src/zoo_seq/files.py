"""Reading the user's text files with errors that say where and what to do.

Every file goes through zoo.files.readfile: only regular files (or links to them) are read,
never more than the text limit, so a FIFO, ``/dev/zero`` or a folder given as
``--text``, ``--data`` or ``--csv`` is one error saying what it is.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.plugin import DataError, check_regular, read_bytes


def find_file(name: str, data_dir: Path | None, option: str) -> Path:
    """``name`` as given (relative to the working directory), else inside ``data_dir``; a regular file."""
    path = Path(name).expanduser()
    chosen = path
    if not os.path.lexists(path) and not path.is_absolute() and data_dir is not None:
        in_data_dir = Path(data_dir) / path
        if os.path.lexists(in_data_dir):
            chosen = in_data_dir
    if not os.path.lexists(chosen):
        relative = data_dir is not None and not path.is_absolute()
        looked = f" (looked in the working directory and in {data_dir})" if relative else ""
        raise DataError(f"file not found{looked}", path, hint=f"check the path given to --{option}")
    return check_regular(chosen, f"--{option} a text file")


def read_utf8(path: Path, what: str = "a text file") -> str:
    """The whole file as text, within the text limit; empty or non-UTF-8 files are data errors."""
    raw = read_bytes(path, "text", what, hint="give a text file")
    if not raw:
        raise DataError("file is empty", path, hint="put some text in it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = int(exc.start)
        line = raw.count(b"\n", 0, offset) + 1
        line_start = raw.rfind(b"\n", 0, offset) + 1
        column = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
        bad = raw[offset : int(exc.end)].hex(" ")
        raise DataError(
            f"not valid UTF-8: byte 0x{bad} at byte offset {offset}",
            path,
            line=line,
            column=column,
            hint="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        ) from None
    if text.startswith("\ufeff"):  # a byte-order mark is an encoding detail, not a character
        text = text[1:]
    if not text.strip():
        raise DataError("file holds only whitespace", path, hint="put some text in it")
    return text
