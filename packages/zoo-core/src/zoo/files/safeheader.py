"""The checks of a safetensors header, made before any tensor is touched: each one a CheckpointError.

A checkpoint may be damaged, foreign (a pickle, a zip) or made to exhaust its reader, so
the header's length, text, JSON, tensor entries and the layout of their bytes are bounded
and checked here; ``zoo.files.safefile.read_header`` reads the bytes and calls these.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import torch

from zoo.errors import CheckpointError

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


DTYPES: dict[str, tuple[torch.dtype, int]] = _dtype_table()
DTYPE_NAMES: dict[torch.dtype, str] = {dtype: name for name, (dtype, _) in DTYPES.items()}


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


def check_entry(path: Path, name: str, entry: Any) -> dict[str, Any]:
    """One tensor's header entry: known dtype, sane shape and offsets that match its byte size."""
    if not isinstance(entry, dict):
        raise CheckpointError(path, f"header entry for tensor {name!r} is not a JSON object")
    for field in ("dtype", "shape", "data_offsets"):
        if field not in entry:
            raise CheckpointError(path, f"header entry for tensor {name!r} has no {field!r}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise CheckpointError(
            path,
            f"tensor {name!r} has unknown dtype {dtype!r}",
            hint=f"known dtypes: {', '.join(sorted(DTYPES))}",
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
    needed = math.prod(shape) * DTYPES[dtype][1]
    if offsets[1] - offsets[0] != needed:
        raise CheckpointError(
            path,
            f"tensor {name!r} has data_offsets {offsets} ({offsets[1] - offsets[0]} bytes) but dtype {dtype} "
            f"with shape {shape} needs {needed} bytes",
        )
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def check_layout(path: Path, entries: dict[str, dict[str, Any]], data_size: int) -> None:
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


def check_start(file: Path, start: bytes, size: int) -> int:
    """The header length, from the first 9 bytes of a ``size``-byte file; a pickle, a zip or a
    header that cannot fit is a CheckpointError naming the file."""
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
        raise CheckpointError(file, f"file is too short ({size} bytes) to hold the 8-byte header length of safetensors")
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
    return int(header_size)


def parse_header(file: Path, raw: bytes) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The tensor entries and string metadata of a header's bytes, each entry checked on its own."""
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
    return {name: check_entry(file, name, entry) for name, entry in header.items()}, metadata
