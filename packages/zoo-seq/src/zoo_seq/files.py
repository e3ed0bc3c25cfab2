"""Reading the user's text files with errors that say where and what to do."""

from __future__ import annotations

from pathlib import Path

from zoo.errors import DataError


def find_file(name: str, data_dir: Path | None, option: str) -> Path:
    """``name`` as given (relative to the working directory), else inside ``data_dir``."""
    path = Path(name).expanduser()
    if path.exists() or path.is_absolute() or data_dir is None:
        chosen = path
    else:
        in_data_dir = Path(data_dir) / path
        chosen = in_data_dir if in_data_dir.exists() else path
    if not chosen.exists():
        relative = data_dir is not None and not path.is_absolute()
        looked = f" (looked in the working directory and in {data_dir})" if relative else ""
        raise DataError(f"file not found{looked}", path, hint=f"check the path given to --{option}")
    if chosen.is_dir():
        raise DataError("is a folder, not a text file", chosen, hint=f"give --{option} a file")
    return chosen


def read_utf8(path: Path) -> str:
    """The whole file as text; empty files and bytes that are not UTF-8 are data errors."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot be read: {exc.strerror or exc}", path) from None
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
