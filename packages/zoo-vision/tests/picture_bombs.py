"""Small files that ask a picture decoder for far more than their size: the cases zoo-vision bounds."""

from __future__ import annotations

import io
import struct

from PIL import Image


def progressive_jpeg(side: int = 256, extra_scans: int = 0) -> bytes:
    """A progressive grayscale JPEG with its last scan repeated ``extra_scans`` times.

    libjpeg decodes every repeat (a warning, not an error), each one a pass over every block:
    the scan bomb, at any size.
    """
    img = Image.linear_gradient("L").resize((side, side))
    out = io.BytesIO()
    img.save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    last = data.rfind(b"\xff\xda")
    return data[:-2] + data[last:-2] * extra_scans + b"\xff\xd9"


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small baseline JPEG whose frame header declares ``width`` x ``height`` (its data: 16 x 16)."""
    out = io.BytesIO()
    Image.new("L", (16, 16), 200).save(out, "JPEG", quality=90)
    data = bytearray(out.getvalue())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def icon(kind: str = "ICO") -> bytes:
    """A 64 x 64 ICO file, or the same bytes marked as a cursor (CUR)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 255, 255)).save(out, "ICO", sizes=[(64, 64)])
    data = bytearray(out.getvalue())
    if kind == "CUR":
        data[2] = 2
    return bytes(data)


def saved(fmt: str, side: int = 24) -> bytes | None:
    """A small picture saved in ``fmt`` by Pillow (the first mode it writes), or None when it writes none."""
    for mode in ("RGB", "RGBA", "L", "P", "1", "I;16", "F"):
        out = io.BytesIO()
        try:
            Image.linear_gradient("L").resize((side, side)).convert(mode).save(out, fmt)
        except Exception:  # no writer for this mode, or one that needs options
            continue
        return out.getvalue()
    return None
