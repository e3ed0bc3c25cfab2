"""Reading and writing MNIST's IDX files, with every size checked.

IDX is a tiny format: a 4-byte magic number (two zero bytes, a type code, the
number of dimensions), one big-endian 32-bit size per dimension, then the raw
values. A truncated download or a file of the wrong kind must end in a message
that names the file, not in a reshape error, so the header and the length are
checked here before anything is decoded.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import torch

from zoo.errors import DataError

UBYTE = 0x08
IMAGE_SIDE = 28
NUM_CLASSES = 10


def read_raw(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in ``.gz``."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(
            f"is not a complete gzip file ({exc})", path=path, hint="delete it and download it again"
        ) from None
    except OSError as exc:
        raise DataError(f"cannot be read: {exc.strerror or exc}", path=path) from None


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


def _check_length(data: bytes, path: Path, header: int, count: int, item: int, what: str) -> None:
    expected = header + count * item
    if len(data) < expected:
        raise DataError(
            f"is truncated: the header announces {count} {what} ({expected} bytes) but the file has "
            f"{len(data)} bytes",
            path=path,
            hint="delete it and download it again",
        )
    if len(data) > expected:
        raise DataError(
            f"has {len(data) - expected} bytes more than the {count} {what} its header announces",
            path=path,
            hint="the file is damaged or not an MNIST file; replace it",
        )


def decode_images(path: Path) -> torch.Tensor:
    """An ``idx3-ubyte`` image file as a uint8 tensor of shape (N, 1, 28, 28)."""
    data = read_raw(path)
    count, rows, cols = _header(data, path, 3, "image")
    if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(
            f"holds {rows}x{cols} images; MNIST images are {IMAGE_SIDE}x{IMAGE_SIDE}",
            path=path,
        )
    _check_length(data, path, 16, count, rows * cols, "images")
    return _uint8(data[16:]).view(count, 1, rows, cols)


def decode_labels(path: Path) -> torch.Tensor:
    """An ``idx1-ubyte`` label file as an int64 tensor of digits 0-9."""
    data = read_raw(path)
    (count,) = _header(data, path, 1, "label")
    _check_length(data, path, 8, count, 1, "labels")
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
