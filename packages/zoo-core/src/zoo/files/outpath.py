"""Safe output paths: never an input, never through a symlink, never a device; written atomically.

A command that writes a file the user names (``zoo export -o FILE``) must not destroy
what it reads (``-o`` naming the input checkpoint, or a hard link to it), must not
follow a symlink onto some other file, and must not leave a half-written file behind.
``check_output`` refuses the first three up front with one clear error; ``atomic_output``
hands out a temporary file in the same folder and renames it over the target only once
the writer has finished. No torch.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from zoo.errors import TrainingError, UsageError, ZooError

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: equal once resolved, or the same device and inode."""
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # a symlink loop
        pass
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: str | Path, inputs: Iterable[str | Path] = (), flag: str = "-o") -> Path:
    """``path`` if a new or regular file may be written there; otherwise a UsageError saying why.

    Refused: a symlink (even a dangling one: it is never followed), a folder, a device,
    a FIFO or a socket, a file that is one of ``inputs`` (by path or by inode), a
    missing folder and a folder this process cannot write into.
    """
    out = Path(path)
    hint = f"give another {flag} FILE"
    try:
        info = os.lstat(out)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise UsageError(f"{out}: cannot be written: {exc.strerror or exc}", hint=hint) from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise UsageError(
                f"{out}: is a symlink; zoo does not write through links", hint=f"{hint}, or remove the link first"
            )
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise UsageError(f"{out}: is {kind}, not a file zoo can write", hint=hint)
    for source in inputs:
        if _same_file(out, Path(source)):
            raise UsageError(f"{out}: is the input {source}; writing it would destroy the input", hint=hint)
    folder = out.parent
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder", hint=f"create it or give another {flag} FILE")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{folder}: this folder is not writable", hint=hint)
    return out


def temp_name(final: Path, suffix: str = "") -> Path:
    """``.<name>.tmp-<pid>-<hex><suffix>`` beside ``final``: hidden, unique, on the same file system."""
    return final.parent / f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


@contextlib.contextmanager
def atomic_output(final: str | Path, suffix: str = "", flag: str = "-o") -> Iterator[Path]:
    """A fresh temporary file beside ``final`` for a writer; renamed over ``final`` if the block succeeds.

    The temporary file is created exclusively (so nothing can be waiting there under its
    name) with the permissions a new file normally gets; any failure removes it and leaves
    ``final`` as it was. ``suffix`` keeps an extension for writers that look at it.
    """
    target = Path(final)
    temp = temp_name(target, suffix)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        raise UsageError(
            f"{target.parent}: cannot create a file there: {exc.strerror or exc}", hint=f"give another {flag} FILE"
        ) from None
    os.close(fd)
    try:
        yield temp
        os.replace(temp, target)  # rename replaces a link at ``target`` itself, never its target
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def write_text_atomic(final: str | Path, text: str, flag: str = "-o") -> None:
    """A small text file written through ``atomic_output``."""
    with atomic_output(final, flag=flag) as temp:
        temp.write_text(text, encoding="utf-8")


#: errno values that mean "this place cannot be written": the user picks another.
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def write_error(path: str | Path, exc: OSError, doing: str = "write") -> ZooError:
    """One clear error for a failed write: a read-only place is the user's to change (exit 2),
    a full disk or a file size limit a failure of the run (exit 1)."""
    reason = exc.strerror or str(exc)
    if exc.errno in _READ_ONLY:
        return UsageError(f"cannot {doing} {path}: {reason}", hint="pick a folder you can write to")
    return TrainingError(f"cannot {doing} {path}: {reason}", hint="free some disk space (or raise the file size limit)")


def unlink_quietly(path: Path) -> None:
    """Remove a file if it is there; a failure to (a read-only folder) changes nothing worth saying."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
