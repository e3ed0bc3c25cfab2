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
import json
import math
import os
import secrets
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch

from zoo.errors import CheckpointError
from zoo.files.readfile import NotRegularFile, open_regular

# safetensors refuses headers above 100 MB; a larger one is damage or an attack, not a checkpoint.
MAX_HEADER_BYTES: int = 100_000_000
#: Tensors one file may describe (zoo's largest files hold a few hundred; checking 100,000 takes ~2 s).
MAX_TENSORS: int = 100_000
#: ``__metadata__`` keys one file may hold (zoo writes about 40).
MAX_METADATA_KEYS: int = 10_000

_DAMAGED = "no real model comes near it: the file is damaged or was made to exhaust the reader"
_PICKLE_HINT = "this looks like a pickle/torch.save file; zoo only reads safetensors and never unpickles"


def _dtype_table() -> dict[str, tuple[torch.dtype, int]]:
    """safetensors dtype names -> (torch dtype, bytes per element), for the dtypes this torch has."""
    names: dict[str, str] = {
        "BOOL": "bool",
        "U8": "uint8",
        "I8": "int8",
        "I16": "int16",
        "U16": "uint16",
        "I32": "int32",
        "U32": "uint32",
        "I64": "int64",
        "U64": "uint64",
        "F16": "float16",
        "BF16": "bfloat16",
        "F32": "float32",
        "F64": "float64",
        "C64": "complex64",
        "F8_E4M3": "float8_e4m3fn",
        "F8_E5M2": "float8_e5m2",
        "F8_E4M3FNUZ": "float8_e4m3fnuz",
        "F8_E5M2FNUZ": "float8_e5m2fnuz",
    }
    table: dict[str, tuple[torch.dtype, int]] = {}
    for name, attr in names.items():
        dtype = getattr(torch, attr, None)
        if isinstance(dtype, torch.dtype):
            table[name] = (dtype, torch.empty((), dtype=dtype).element_size())
    return table


_DTYPES: dict[str, tuple[torch.dtype, int]] = _dtype_table()
_DTYPE_NAMES: dict[torch.dtype, str] = {dtype: name for name, (dtype, _) in _DTYPES.items()}


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
        if tensor.dtype not in _DTYPE_NAMES:
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


class _TooMany(ValueError):
    """An object in the header with more keys than any checkpoint has."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects with a repeated key are ambiguous; refuse them instead of keeping the last one."""
    if len(pairs) > MAX_TENSORS + 1:  # before the loop below: a C-parsed list, a Python-checked dict
        raise _TooMany(
            f"a JSON object of {len(pairs):,} keys; the limits are {MAX_TENSORS:,} tensors "
            f"and {MAX_METADATA_KEYS:,} metadata keys"
        )
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entry(path: Path, name: str, entry: Any) -> dict[str, Any]:
    """One tensor's header entry: known dtype, sane shape and offsets that match its byte size."""
    if not isinstance(entry, dict):
        raise CheckpointError(path, f"header entry for tensor {name!r} is not a JSON object")
    for field in ("dtype", "shape", "data_offsets"):
        if field not in entry:
            raise CheckpointError(path, f"header entry for tensor {name!r} has no {field!r}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise CheckpointError(
            path,
            f"tensor {name!r} has unknown dtype {dtype!r}",
            hint=f"known dtypes: {', '.join(sorted(_DTYPES))}",
        )
    if not isinstance(shape, list) or not all(_is_int(dim) and dim >= 0 for dim in shape):
        raise CheckpointError(path, f"tensor {name!r} has shape {shape!r}; a shape is a list of non-negative ints")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(value) for value in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise CheckpointError(
            path,
            f"tensor {name!r} has data_offsets {offsets!r}; they must be [begin, end] ints with 0 <= begin <= end",
        )
    needed = math.prod(shape) * _DTYPES[dtype][1]
    if offsets[1] - offsets[0] != needed:
        raise CheckpointError(
            path,
            f"tensor {name!r} has data_offsets {offsets} ({offsets[1] - offsets[0]} bytes) but dtype {dtype} "
            f"with shape {shape} needs {needed} bytes",
        )
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def _check_layout(path: Path, entries: dict[str, dict[str, Any]], data_size: int) -> None:
    """Tensor data must tile the data area exactly: no overlaps, no holes, nothing missing or extra."""
    ordered = sorted(entries.items(), key=lambda item: tuple(item[1]["data_offsets"]))
    expected = 0
    previous = None
    for name, entry in ordered:
        begin, end = entry["data_offsets"]
        if begin < expected:
            raise CheckpointError(
                path,
                f"tensor {name!r} (bytes {begin}..{end}) overlaps tensor {previous!r} (ending at {expected})",
            )
        if begin > expected:
            raise CheckpointError(
                path,
                f"bytes {expected}..{begin} of the data area belong to no tensor (a hole before {name!r})",
            )
        expected, previous = end, name
    if expected > data_size:
        beyond = [name for name, entry in ordered if entry["data_offsets"][1] > data_size]
        raise CheckpointError(
            path,
            f"file is truncated: the header describes {expected} bytes of tensor data but only {data_size} "
            f"follow it; tensor(s) {', '.join(repr(name) for name in beyond)} lie past the end of the file",
            hint="the file was cut short (an interrupted copy or download?) or its header lies about offsets",
        )
    if expected < data_size:
        raise CheckpointError(path, f"{data_size - expected} bytes after the last tensor's data belong to no tensor")


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
    metadata. Each problem is a CheckpointError naming the file.
    """
    file = Path(path)
    try:
        with _open_checkpoint(file) as handle:
            size = os.fstat(handle.fileno()).st_size
            start = handle.read(9)
            # A pickle opens with PROTO (0x80, 2..5); so can a header length of 640 bytes, but a
            # safetensors header that fits the file always opens with "{" right after the length.
            looks_pickled = start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
            fits = len(start) == 9 and start[8:9] == b"{" and struct.unpack("<Q", start[:8])[0] <= size - 8
            if looks_pickled and not fits:
                raise CheckpointError(file, _PICKLE_HINT)
            if start[:4] == b"PK\x03\x04":
                raise CheckpointError(file, f"is a zip archive: {_PICKLE_HINT}")
            if size == 0:
                raise CheckpointError(file, "file is empty")
            if size < 8:
                raise CheckpointError(
                    file, f"file is too short ({size} bytes) to hold the 8-byte header length of safetensors"
                )
            header_size = struct.unpack("<Q", start[:8])[0]
            if header_size > MAX_HEADER_BYTES:
                raise CheckpointError(
                    file,
                    f"header length {header_size} is larger than the {MAX_HEADER_BYTES}-byte limit",
                    hint="this is not a safetensors file, or it is damaged",
                )
            if header_size > size - 8:
                raise CheckpointError(
                    file,
                    f"header length {header_size} is larger than the {size - 8} bytes that follow it",
                    hint="the file is truncated, or it is not a safetensors file",
                )
            handle.seek(8)
            raw = handle.read(header_size)
    except OSError as exc:
        raise CheckpointError(file, f"cannot read the file: {exc.strerror or exc}") from exc

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(file, f"header is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if raw.count(b'"data_offsets"') > MAX_TENSORS:  # before parsing: the entries cost ~20 µs each
        raise CheckpointError(
            file, f"header describes more than {MAX_TENSORS:,} tensors, the limit per file", hint=_DAMAGED
        )
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _TooMany as exc:
        raise CheckpointError(file, f"header holds {exc}", hint=_DAMAGED) from None
    except ValueError as exc:
        raise CheckpointError(file, f"header is not valid JSON: {exc}") from exc
    except RecursionError:
        raise CheckpointError(file, "header is nested too deeply to be a safetensors header") from None
    if not isinstance(header, dict):
        raise CheckpointError(file, f"header is a JSON {type(header).__name__}, not a JSON object")

    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict):
        raise CheckpointError(file, "__metadata__ is not a JSON object of strings")
    if len(metadata) > MAX_METADATA_KEYS:
        raise CheckpointError(
            file, f"__metadata__ holds {len(metadata):,} keys; the limit is {MAX_METADATA_KEYS:,}", hint=_DAMAGED
        )
    if len(header) > MAX_TENSORS:
        raise CheckpointError(
            file, f"header describes {len(header):,} tensors; the limit is {MAX_TENSORS:,}", hint=_DAMAGED
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise CheckpointError(
                file, f"__metadata__ must map strings to strings; {key!r} holds a JSON {type(value).__name__}"
            )

    entries = {name: _check_entry(file, name, entry) for name, entry in header.items()}
    _check_layout(file, entries, size - 8 - header_size)
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
