"""Reading and writing MNIST's IDX files, with every size checked.

IDX is a tiny format: a 4-byte magic number (two zero bytes, a type code, the
number of dimensions), one big-endian 32-bit size per dimension, then the raw
values. A truncated download or a file of the wrong kind must end in a message
that names the file, not in a reshape error, so the header and the length are
checked here before anything is decoded.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import torch

from zoo.plugin import FILE_LIMIT_ENV as ENV
from zoo.plugin import DataError, gunzip_chunks, is_gzip, limit, open_regular, read_bytes, size_text
from zoo_vision.facts import NUM_CLASSES, SIDE

UBYTE = 0x08


WHAT = "an MNIST IDX file"
#: The longest IDX header: the magic number and four dimensions.
HEAD_MAX = 4 + 4 * 4
_NOUNS = {1: "labels", 3: "images"}


def _announced(head: bytes) -> tuple[int, int, int] | None:
    """(header bytes, item count, file size) that a complete unsigned-byte IDX header announces.

    None when ``head`` is not (yet) such a header: too short, or a magic number that
    decode_images / decode_labels will refuse by name.
    """
    if len(head) < 4:
        return None
    zero, kind, ndim = struct.unpack(">HBB", head[:4])
    need = 4 + 4 * ndim
    if zero != 0 or kind != UBYTE or not 1 <= ndim <= 4 or len(head) < need:
        return None
    dims = struct.unpack(f">{ndim}I", head[4:need])
    return need, dims[0], need + math.prod(dims)


def _magic_is_wrong(head: bytes) -> bool:
    if len(head) < 4:
        return False
    zero, kind, ndim = struct.unpack(">HBB", head[:4])
    return zero != 0 or kind != UBYTE or not 1 <= ndim <= 4


def _check_announced(path: Path, announced: tuple[int, int, int]) -> int:
    size = announced[2]
    if size > limit("dataset"):
        raise DataError(
            f"has a header that announces {announced[1]} items ({size} bytes), more than the "
            f"{size_text(limit('dataset'))} limit for {WHAT}",
            path=path,
            hint=f"the file is damaged or not an MNIST file; set {ENV} (in MiB) to raise the limit",
        )
    return size


def inflated_pieces(path: Path) -> Iterator[bytes]:
    """A ``.gz`` IDX file inflated piece by piece, never past the size its header announces.

    The header sits in the first inflated bytes, so the exact size is known before the rest
    is inflated: a small file that inflates to gigabytes stops one piece past that size.
    When the first bytes are no IDX header, inflating stops there and the caller's header
    check names the wrong magic number.
    """
    with open_regular(path, WHAT) as handle:
        magic = handle.read(2)
    if not is_gzip(magic):
        raise DataError("ends in .gz but is not gzip data", path=path, hint="delete it and download it again")
    head = b""
    cap: int | None = None
    total = 0
    for piece in gunzip_chunks(read_bytes(path, "dataset", WHAT), path):
        total += len(piece)
        if cap is None:
            head = (head + piece[:HEAD_MAX])[:HEAD_MAX]
            announced = _announced(head)
            if announced is not None:
                cap = _check_announced(path, announced)
            elif _magic_is_wrong(head):
                yield piece
                return
        if cap is not None and total > cap:
            raise DataError(
                f"inflates to more than the {cap} bytes its IDX header announces",
                path=path,
                hint="the file is damaged or not an MNIST file; delete it and download it again",
            )
        yield piece


def read_raw(path: Path) -> bytes:
    """A regular file's bytes, gunzipped when it ends in ``.gz``; never more than its header announces."""
    if path.suffix == ".gz":
        return b"".join(inflated_pieces(path))
    with open_regular(path, WHAT) as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(HEAD_MAX)
    if _magic_is_wrong(head):
        return head  # the header check names the magic number; the rest need not be read
    announced = _announced(head)
    if announced is not None:
        header, count, expected = announced
        _check_announced(path, announced)
        _check_length(size, path, header, count, expected, _NOUNS.get(head[3], "items"))
    return read_bytes(path, "dataset", WHAT)


def _header(data: bytes, path: Path, dims: int, what: str) -> tuple[int, ...]:
    need = 4 + 4 * dims
    if len(data) >= 4:
        zero, kind, ndim = struct.unpack(">HBB", data[:4])
        expected = (UBYTE << 8) | dims
        if zero != 0 or kind != UBYTE or ndim != dims:
            found = struct.unpack(">I", data[:4])[0]
            raise DataError(
                f"is not an IDX {what} file: magic number 0x{found:08x}, expected 0x{expected:08x} "
                f"(unsigned bytes, {dims} dimension{'s' if dims > 1 else ''})",
                path=path,
                hint="MNIST's files are train-/t10k-images-idx3-ubyte and train-/t10k-labels-idx1-ubyte",
            )
    if len(data) < need:
        raise DataError(
            f"is truncated: {len(data)} bytes, but an IDX {what} file starts with a {need}-byte header",
            path=path,
            hint="delete it and download it again",
        )
    return struct.unpack(f">{dims}I", data[4:need])


def _check_length(length: int, path: Path, header: int, count: int, expected: int, what: str) -> None:
    if length < expected:
        raise DataError(
            f"is truncated: the header announces {count} {what} ({expected} bytes) but the file has "
            f"{length} bytes",
            path=path,
            hint="delete it and download it again",
        )
    if length > expected:
        raise DataError(
            f"has {length - expected} bytes more than the {count} {what} its header announces",
            path=path,
            hint="the file is damaged or not an MNIST file; replace it",
        )


def decode_images(path: Path) -> torch.Tensor:
    """An ``idx3-ubyte`` image file as a uint8 tensor of shape (N, 1, 28, 28)."""
    data = read_raw(path)
    count, rows, cols = _header(data, path, 3, "image")
    if (rows, cols) != (SIDE, SIDE):
        raise DataError(
            f"holds {rows}x{cols} images; MNIST images are {SIDE}x{SIDE}",
            path=path,
        )
    _check_length(len(data), path, 16, count, 16 + count * rows * cols, "images")
    return _uint8(data[16:]).view(count, 1, rows, cols)


def decode_labels(path: Path) -> torch.Tensor:
    """An ``idx1-ubyte`` label file as an int64 tensor of digits 0-9."""
    data = read_raw(path)
    (count,) = _header(data, path, 1, "label")
    _check_length(len(data), path, 8, count, 8 + count, "labels")
    labels = _uint8(data[8:])
    bad = (labels >= NUM_CLASSES).nonzero()
    if bad.numel():
        index = int(bad[0, 0])
        raise DataError(
            f"label {int(labels[index])} at position {index} is not a digit 0-9",
            path=path,
            hint="the file is damaged or not an MNIST label file; replace it",
        )
    return labels.to(torch.int64)


def _uint8(payload: bytes) -> torch.Tensor:
    if not payload:
        return torch.empty(0, dtype=torch.uint8)
    return torch.frombuffer(bytearray(payload), dtype=torch.uint8)


def encode_images(images: torch.Tensor) -> bytes:
    """uint8 images (N, 28, 28) or (N, 1, 28, 28) as the bytes of an idx3-ubyte file."""
    images = images.reshape(images.shape[0], images.shape[-2], images.shape[-1]).to(torch.uint8).contiguous()
    n, rows, cols = images.shape
    return struct.pack(">HBBIII", 0, UBYTE, 3, n, rows, cols) + bytes(images.numpy().tobytes())


def encode_labels(labels: torch.Tensor) -> bytes:
    """Integer labels (N,) as the bytes of an idx1-ubyte file."""
    values = labels.to(torch.uint8).contiguous()
    return struct.pack(">HBBI", 0, UBYTE, 1, values.shape[0]) + bytes(values.numpy().tobytes())
