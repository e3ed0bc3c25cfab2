"""Opening a picture file's bytes within a budget: format, size and scans checked before decoding.

A few kilobytes can ask a decoder for gigabytes or hours: a header declaring a huge size,
an icon whose frames Pillow decodes inside ``Image.open``, a progressive JPEG of thousands
of scans (each one a pass over every block). So before a pixel is decoded the format must
be one of FORMATS (each read lazily by Pillow: ``Image.open`` reads only the header), the
full declared size must be within the pixel limit (before a JPEG's ``draft`` shrinks it),
and a JPEG may hold at most MAX_SCANS scans. While decoding, the thread's CPU time is
checked each time the decoder reads more of the file, against DECODE_SECONDS.

Any exception a decoder raises is one DataError, "is not an image we can read: NAME",
naming the picture as the caller names it, never a path of ours.
"""

from __future__ import annotations

import io
import math
import re
import time
import warnings
from pathlib import Path

from PIL import Image

from zoo.plugin import DataError, ZooError

#: The formats read, by Pillow's names; each is opened lazily (its header only). Others, ICO and
#: CUR among them (Pillow decodes every icon frame while opening), are refused by name.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")  # JPEG takes MPO (a camera's JPEG) too
#: Most scans one JPEG may hold. libjpeg's progressive JPEGs have 10 (6 in grayscale); each
#: scan is a pass over every block, so a file of thousands of tiny scans costs hours.
MAX_SCANS = 32
#: CPU seconds one picture's decoding may take (a 4096 x 4096 PNG of noise takes about 0.5 s).
DECODE_SECONDS = 5.0
#: What the user is told to do with a picture that cannot be read.
HINT = "give a PNG, JPEG, GIF, BMP, TIFF, WebP or PPM picture of one digit"

# A marker: 0xFF and a byte that is not a stuffed zero, a fill 0xFF or a restart marker (which
# all occur inside entropy-coded data). One 0xFF only, so a run of them costs linear time.
_MARKER = re.compile(rb"\xff([\x01-\xcf\xd8-\xfe])")
_NO_LENGTH = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
_SOS, _EOI = 0xDA, 0xD9

# Pillow warns about damage it reads past (a corrupt EXIF block, a tag beyond the file); the
# picture either decodes or is refused here with one message, so the warnings would only be noise.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


class _Budgeted(io.BytesIO):
    """The picture's bytes, refusing to give the decoder more once its CPU time is spent."""

    def __init__(self, data: bytes, name: str | Path, seconds: float) -> None:
        super().__init__(data)
        self.name_ = name
        self.seconds = seconds
        self.start = time.thread_time()

    def check(self) -> None:
        used = time.thread_time() - self.start
        if used > self.seconds:
            raise DataError(
                f"took more than {self.seconds:g} s of CPU time to decode ({used:.1f} s): "
                "more than a picture of a digit needs",
                path=self.name_,
                hint="save the picture again as a plain PNG or JPEG, smaller",
            )

    def read(self, size: int | None = -1) -> bytes:
        self.check()
        return super().read(size)

    def getvalue(self) -> bytes:  # libtiff takes the whole file this way
        self.check()
        return super().getvalue()


def open_picture(
    data: bytes,
    name: str | Path,
    max_pixels: int,
    raise_with: str = "",
    draft: int = 0,
    seconds: float = DECODE_SECONDS,
) -> Image.Image:
    """The picture in ``data``, decoded (a GIF's first frame); a JPEG drafted down towards ``draft``.

    Every failure is a DataError naming ``name``; ``raise_with`` says how the caller lets the
    user raise ``max_pixels``.
    """
    try:
        with Image.open(_Budgeted(data, name, seconds), formats=FORMATS) as img:
            check_pixels(img.size, name, max_pixels, raise_with)
            if img.format in ("JPEG", "MPO"):
                scans = jpeg_scans(data, MAX_SCANS)
                if scans > MAX_SCANS:
                    raise DataError(
                        f"is a JPEG of more than {MAX_SCANS} scans; decoding it would cost a pass over "
                        "the whole picture per scan",
                        path=name,
                        hint="save it again as a plain (baseline) JPEG or a PNG",
                    )
                if draft:
                    img.draft(None, (draft, draft))
            img.load()
            return img
    except ZooError:
        raise
    except Image.DecompressionBombError as exc:
        raise too_many_pixels(name, f"Pillow: {exc}", max_pixels, raise_with) from None
    except Image.UnidentifiedImageError:
        raise unreadable(name, _format_of(data)) from None
    except Exception as exc:  # a decoder may raise any type: each means the user's file is bad
        raise unreadable(name, _why(exc)) from None


def unreadable(name: str | Path, why: str) -> DataError:
    return DataError(f"is not an image we can read: {why}", path=name, hint=HINT)


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__} ({text})" if text else type(exc).__name__


def _format_of(data: bytes) -> str:
    """What the bytes look like, by the quick checks of Pillow's registered formats (no decoding)."""
    prefix = data[:16]
    for fmt, (_, accept) in Image.OPEN.items():
        try:
            if fmt not in FORMATS and accept is not None and accept(prefix):
                return f"{fmt}, a format zoo-vision does not read"
        except Exception:  # a check that fails on these bytes says nothing about them
            continue
    return "no picture format recognized in its first bytes"


def jpeg_scans(data: bytes, stop: int) -> int:
    """Scans in a JPEG's first picture, counted to ``stop`` + 1 at most; linear in the file's size.

    Segments are stepped over by their lengths (an embedded thumbnail's scans are not counted);
    entropy-coded data is skipped by searching for the next marker.
    """
    scans, pos = 0, 2
    while scans <= stop:
        found = _MARKER.search(data, pos)
        if found is None:
            break
        kind, pos = found.group(1)[0], found.end()
        if kind == _EOI:
            break
        if kind in _NO_LENGTH or pos + 2 > len(data):
            continue
        pos += int.from_bytes(data[pos : pos + 2], "big")
        scans += kind == _SOS
    return scans


def check_pixels(size: tuple[int, int], path: str | Path, max_pixels: int, raise_with: str = "") -> None:
    """Refuse a picture whose declared size is over ``max_pixels``, before a byte of it is decoded."""
    width, height = size
    if width * height > max_pixels:
        raise too_many_pixels(path, f"{width} x {height} = {width * height:,} pixels", max_pixels, raise_with)


def too_many_pixels(path: str | Path, size: str, max_pixels: int, raise_with: str) -> DataError:
    side = math.isqrt(max_pixels)
    shown = f"{max_pixels:,} pixels" + (f" ({side} x {side})" if side * side == max_pixels else "")
    hint = "scale the picture down; a digit needs only 28 x 28 pixels"
    if raise_with:
        hint += f", or raise the limit with {raise_with}"
    return DataError(f"is too large to read: {size}, over the limit of {shown}", path=path, hint=hint)
