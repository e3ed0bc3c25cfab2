"""Damaged files of every format Pillow registers, through zoo-vision's one decoder: a picture or a
DataError, nothing else (no other exception type, no hang past the CPU budget)."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from picture_bombs import progressive_jpeg, saved
from PIL import Image

from zoo.plugin import DataError
from zoo_vision.images import decode_gray

Image.init()

#: First bytes of the formats Pillow reads but cannot write, so each has a file to damage.
MAGIC = {
    "BUFR": b"BUFR\x00\x00\x20\x04",
    "CUR": b"\x00\x00\x02\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00\x28\x00\x00\x00\x16\x00\x00\x00",
    "DCX": b"\xb1\x68\xde\x3a\x10\x00\x00\x00",
    "FITS": b"SIMPLE  =                    T" + b" " * 50,
    "FLI": b"\x00\x00\x00\x00\x11\xaf\x01\x00\x10\x00\x10\x00\x08\x00",
    "FTEX": b"FTEX\x00\x00\x00\x00\x10\x00\x00\x00\x10\x00\x00\x00",
    "GBR": b"\x00\x00\x00\x1c\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x04\x00\x00\x00\x01"
    b"GIMP\x00\x00\x00\x0a",
    "GRIB": b"GRIB\x00\x00\x00\x01",
    "HDF5": b"\x89HDF\r\n\x1a\n",
    "IPTC": b"\x1c\x01\x5a\x00\x03\x1b\x25\x47",
    "MCIDAS": b"\x00\x00\x00\x00\x00\x00\x00\x04" + b"\x00" * 248,
    "MPEG": b"\x00\x00\x01\xb3\x01\x00\x10\x13",
    "PIXAR": b"\x80\xe8\x00\x00" + b"\x00" * 508,
    "PSD": b"8BPS\x00\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x10\x00\x00\x00\x10\x00\x08\x00\x03",
    "SUN": b"\x59\xa6\x6a\x95\x00\x00\x00\x10\x00\x00\x00\x10\x00\x00\x00\x08",
    "WMF": b"\xd7\xcd\xc6\x9a\x00\x00" + b"\x00" * 16,
    "XPM": b'/* XPM */\nstatic char *x[] = {\n"2 2 1 1",\n". c #000000",\n"..",\n".."};\n',
    "XVTHUMB": b"P7 332\n#END_OF_COMMENTS\n2 2 255\n\x00\x00\x00\x00",
}


def _seeds() -> dict[str, bytes]:
    seeds = {
        fmt: saved(fmt) or MAGIC.get(fmt, fmt.encode()) for fmt in sorted(set(Image.OPEN) | set(Image.SAVE))
    }
    tiffs = {}
    for compression in ("tiff_lzw", "tiff_adobe_deflate", "jpeg", "packbits"):
        out = io.BytesIO()
        Image.linear_gradient("L").resize((40, 40)).convert("RGB").save(out, "TIFF", compression=compression)
        tiffs[f"TIFF-{compression}"] = out.getvalue()
    animated = io.BytesIO()
    frames = [Image.new("P", (16, 16), i) for i in range(3)]
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:])
    return {**seeds, **tiffs, "JPEG-progressive": progressive_jpeg(64), "GIF-animated": animated.getvalue()}


SEEDS = _seeds()
EDIT = st.tuples(
    st.sampled_from(["flip", "cut", "insert", "repeat", "ff"]),
    st.integers(0, 1 << 16),
    st.binary(min_size=1, max_size=8),
)


def damaged(seed: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for op, where, payload in edits:
        at = where % (len(data) + 1)
        if op == "flip" and at < len(data):
            data[at] ^= payload[0]
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = payload
        elif op == "repeat":
            data[at:at] = data[at : at + 64] * (1 + payload[0] % 8)
        else:
            data[at : at + len(payload)] = b"\xff" * len(payload)
    return bytes(data)


def test_every_registered_format_has_a_seed() -> None:
    assert set(Image.OPEN) <= set(SEEDS) and all(SEEDS.values())


@settings(max_examples=600, deadline=None, derandomize=True)
@given(fmt=st.sampled_from(sorted(SEEDS)), edits=st.lists(EDIT, min_size=0, max_size=4))
def test_damaged_pictures_of_every_format_give_a_picture_or_one_data_error(
    fmt: str, edits: list[tuple[str, int, bytes]]
) -> None:
    data = damaged(SEEDS[fmt], edits)
    try:
        gray = decode_gray(data, "fuzz.bin", seconds=2.0)
    except DataError as exc:
        assert exc.message.startswith("fuzz.bin: ") and exc.hint
        return
    assert gray.mode == "L" and gray.size[0] * gray.size[1] >= 1
