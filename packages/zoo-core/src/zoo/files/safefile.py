"""Safe, atomic safetensors files: the layer every zoo checkpoint is written and read through.

A checkpoint must never run code when it is opened, and must never be half-written under its final
name. So this module only ever writes and reads the safetensors format (a little-endian u64 header
length, a UTF-8 JSON header, then raw tensor bytes), checks every header before any tensor is
touched, and writes through a temporary file that is renamed over the final name once it is
complete and on disk.

Temporary files are named ``.<final name>.tmp-<pid>-<random hex>`` in the folder of the final file:
a crash can leave one behind, but it is hidden, never carries the final name, and is never read.

Reading validates every header by hand (clear messages, the pickle sniff) before the safetensors
library loads anything; writing uses the library's serializer plus the atomic rename.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch

from zoo.errors import CheckpointError
from zoo.files.readfile import NotRegularFile, open_regular
from zoo.files.safeheader import DTYPE_NAMES, check_layout, check_start, parse_header

# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _prepare(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """Check names and types up front so that a bad call fails before any file is created."""
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping of str to str, not {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"metadata must map str to str; key {key!r} has a {type(value).__name__} value "
                "(encode it, e.g. with json.dumps)"
            )
    ready: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, not {type(name).__name__} ({name!r})")
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved by the safetensors format and cannot name a tensor")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name!r} is a {type(tensor).__name__}, not a torch.Tensor")
        if tensor.layout != torch.strided:
            raise TypeError(f"{name!r} is a {tensor.layout} tensor; only dense tensors can be stored")
        if tensor.dtype not in DTYPE_NAMES:
            raise TypeError(f"{name!r} has dtype {tensor.dtype}, which safetensors cannot store")
        ready[name] = tensor.detach().to("cpu").contiguous()
    seen: set[int] = set()
    for name, tensor in ready.items():  # the library refuses tensors that share memory
        storage = tensor.untyped_storage().data_ptr()
        if storage in seen and tensor.numel():
            ready[name] = tensor.clone()
        seen.add(storage)
    return ready


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (os.write may write less than asked)."""
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += os.write(fd, view[written:])


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; some systems (Windows) cannot open a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_safetensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str],
    durable: bool = True,
    check: Callable[[Path], object] | None = None,
) -> None:
    """Write tensors and string metadata to ``path`` atomically.

    The bytes come from the safetensors library; this adds the atomic part. Tensors are detached,
    moved to CPU and made contiguous; a non-str metadata value is a TypeError. Data goes to a
    hidden temporary file in the same folder (see the module docstring), is flushed and (when
    ``durable``) fsynced, then renamed over ``path`` with os.replace, so ``path`` only ever holds a
    complete file: the previous one or the new one. A crash of the process never leaves a torn
    file; ``durable=False`` only gives up the guarantee against a power cut, for frequent saves.
    The temporary file is removed if anything fails, KeyboardInterrupt included. ``check``
    reads the complete temporary file before the rename: if it raises, ``path`` keeps the
    file it held (a new file that cannot be read back never replaces a good one).
    """
    from safetensors.torch import save

    final = Path(path)
    ready = _prepare(tensors, metadata)
    data = save(ready, metadata=dict(metadata) or None)
    temp = final.parent / f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if check is not None:
            check(temp)
        os.replace(temp, final)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(final.parent)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _open_checkpoint(file: Path) -> BinaryIO:
    """The file opened for reading, if it is a regular file (or a link to one).

    A FIFO would block ``open()`` and a device such as /dev/zero never ends, so the path is
    checked, opened without blocking and checked again on the descriptor (zoo.files.readfile).
    """
    try:
        return io.BufferedReader(open_regular(file, "a .safetensors checkpoint file"))
    except NotRegularFile as exc:
        problem = exc.problem
        if exc.kind == "folder":
            problem = problem.replace("folder, not a file", "directory, not a .safetensors checkpoint file")
        elif problem.endswith("not a regular file"):
            problem = problem.replace("not a regular file", "not a .safetensors checkpoint file")
        raise CheckpointError(file, problem, hint=exc.hint) from None


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Validate a safetensors file without loading any tensor; return (tensor entries, metadata).

    Loading is only safe once the header is known to be sane, and a damaged or foreign file deserves
    one clear message rather than a library error, so this checks everything a reader relies on:
    that it is a readable file, not a pickle, with a bounded UTF-8 JSON header whose tensors have
    known dtypes, valid shapes and offsets that tile the rest of the file exactly, and string-only
    metadata (``zoo.files.safeheader``). Each problem is a CheckpointError naming the file.
    """
    file = Path(path)
    try:
        with _open_checkpoint(file) as handle:
            size = os.fstat(handle.fileno()).st_size
            header_size = check_start(file, handle.read(9), size)
            handle.seek(8)
            raw = handle.read(header_size)
    except OSError as exc:
        raise CheckpointError(file, f"cannot read the file: {exc.strerror or exc}") from exc
    entries, metadata = parse_header(file, raw)
    check_layout(file, entries, size - 8 - header_size)
    return entries, metadata


def read_safetensors(
    path: str | os.PathLike[str], device: str = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load every tensor of a validated file onto ``device``; return (tensors, metadata).

    The header is checked by :func:`read_header` first so the loader only ever sees a sane file;
    anything the safetensors library still objects to becomes a CheckpointError naming the file.
    """
    from safetensors import safe_open

    file = Path(path)
    entries, metadata = read_header(file)
    try:
        with safe_open(str(file), framework="pt", device=device) as handle:
            tensors = {name: handle.get_tensor(name) for name in entries}
    except Exception as exc:
        raise CheckpointError(file, f"cannot load tensors: {exc}") from exc
    return tensors, metadata
