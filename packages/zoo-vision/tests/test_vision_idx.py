"""IDX decoding: round trips, and a DataError that names the file for every kind of damage."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from zoo.plugin import DataError
from zoo_vision.idx import decode_images, decode_labels, encode_images, encode_labels


def test_round_trip_plain_and_gz(tmp_path: Path) -> None:
    images = torch.randint(0, 256, (7, 1, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3, 9, 8, 7])
    (tmp_path / "i").write_bytes(encode_images(images))
    (tmp_path / "l.gz").write_bytes(gzip.compress(encode_labels(labels)))
    assert torch.equal(decode_images(tmp_path / "i"), images)
    got = decode_labels(tmp_path / "l.gz")
    assert got.dtype == torch.int64 and torch.equal(got, labels)


def test_decoding_matches_torchvision(tmp_path: Path) -> None:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([4, 0, 9, 1, 1])
    (tmp_path / "i").write_bytes(encode_images(images))
    (tmp_path / "l").write_bytes(encode_labels(labels))
    assert torch.equal(decode_images(tmp_path / "i")[:, 0], read_image_file(str(tmp_path / "i")))
    assert torch.equal(decode_labels(tmp_path / "l"), read_label_file(str(tmp_path / "l")))


def _images(n: int = 3) -> bytes:
    return encode_images(torch.zeros(n, 28, 28, dtype=torch.uint8))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\x00\x00", "truncated"),
        (_images()[:-100], "truncated"),
        (_images() + b"\x00" * 5, "5 bytes more"),
        (struct.pack(">HBBI", 0, 8, 1, 3) + b"\x00\x01\x02", "magic number 0x00000801, expected 0x00000803"),
        (b"PK\x03\x04" + b"\x00" * 200, "not an IDX image file"),
        (struct.pack(">HBBIII", 0, 8, 3, 2, 32, 32) + b"\x00" * 2048, "32x32"),
    ],
)
def test_damaged_image_files(tmp_path: Path, payload: bytes, expected: str) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(payload)
    with pytest.raises(DataError) as info:
        decode_images(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (encode_labels(torch.tensor([1, 2, 3]))[:-1], "truncated"),
        (struct.pack(">HBBI", 0, 8, 1, 3) + bytes([1, 12, 3]), "label 12 at position 1"),
        (_images(), "magic number 0x00000803, expected 0x00000801"),
    ],
)
def test_damaged_label_files(tmp_path: Path, payload: bytes, expected: str) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(DataError) as info:
        decode_labels(path)
    assert expected in str(info.value) and str(path) in str(info.value)


def test_damaged_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(_images(50))
    cut = tmp_path / "train-images-idx3-ubyte.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="not a complete gzip file") as info:
        decode_images(cut)
    assert str(cut) in str(info.value)
    fake = tmp_path / "t10k-images-idx3-ubyte.gz"
    fake.write_bytes(_images())  # not gzipped at all
    with pytest.raises(DataError, match="gzip"):
        decode_images(fake)
