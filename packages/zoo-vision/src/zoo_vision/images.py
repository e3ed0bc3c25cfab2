"""Turning a user's picture of a digit into an MNIST-like 28x28 image.

MNIST digits are light strokes on a black background, scaled to fit a 20x20 box
and placed in a 28x28 frame by their centre of mass. A photo or a drawing rarely
looks like that, so each picture is made grayscale, inverted when its background
is light, stretched to the full 0-255 range, cropped to the digit, scaled to 20
pixels on its longer side and centred the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from zoo.errors import DataError

SIDE = 28
BOX = 20
#: Pixels at least this bright (after stretching) count as part of the digit when cropping.
INK = 48
#: Most pixels a picture may decode to (4096 x 4096). A digit needs 28 x 28; a phone photo
#: is about 12 million. A small, highly compressed file can declare far more, and decoding
#: it would cost gigabytes of memory and seconds of CPU, so the size is checked first.
MAX_PIXELS = 4096 * 4096
#: JPEGs larger than this on both sides are decoded at 1/2, 1/4 or 1/8 scale (cheap in the
#: decoder itself); the picture is shrunk to 20 pixels anyway.
DRAFT_SIDE = 1024

# The pixel budget above is stricter than Pillow's own bomb check, whose warning would only
# repeat it less clearly.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass
class Digit:
    """A prepared image: uint8 pixels (1, 28, 28), and whether the picture had to be inverted."""

    pixels: torch.Tensor
    inverted: bool


def open_gray(path: str | Path) -> Image.Image:
    """The picture as 8-bit grayscale; transparent parts take the colour that contrasts with the ink."""
    file = Path(path)
    if not file.exists():
        raise DataError("no such file", path=file, hint="give the path of a PNG, JPEG or other image")
    if file.is_dir():
        raise DataError("is a folder, not an image", path=file)
    if not file.is_file():  # a FIFO, socket or device would block or never end
        raise DataError("is not a regular file (a pipe or device?), not an image", path=file)
    try:
        with Image.open(file) as img:
            if img.format == "JPEG":
                img.draft(None, (DRAFT_SIDE, DRAFT_SIDE))
            check_pixels(img.size, file)
            img.load()
            return _flatten(img)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(file, f"Pillow: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(
            f"is not an image that can be read ({type(exc).__name__}: {exc})",
            path=file,
            hint="give a PNG, JPEG, BMP, GIF or other picture of one digit",
        ) from None


def check_pixels(size: tuple[int, int], path: str | Path) -> None:
    """Refuse a picture whose declared size is over MAX_PIXELS, before a byte of it is decoded."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(path, f"{width} x {height} = {width * height:,} pixels")


def _too_many_pixels(path: str | Path, size: str) -> DataError:
    return DataError(
        f"is too large to read: {size}, over the limit of {MAX_PIXELS:,} pixels (4096 x 4096)",
        path=path,
        hint="scale the picture down; a digit needs only 28 x 28 pixels",
    )


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = rgba.getchannel("A")
        if _extrema(alpha)[0] < 255:
            gray = rgba.convert("L")
            mask = alpha.point(lambda a: 255 if a >= 128 else 0)
            hist = gray.histogram(mask=mask)
            count = sum(hist)
            ink = sum(i * n for i, n in enumerate(hist)) / count if count else 0.0
            background = (255, 255, 255, 255) if ink < 128 else (0, 0, 0, 255)
            return Image.alpha_composite(Image.new("RGBA", rgba.size, background), rgba).convert("L")
    return img.convert("L")


def border_level(gray: Image.Image) -> int:
    """Median brightness of the picture's outer frame: the background's level."""
    w, h = gray.size
    band = max(1, min(w, h) // 28)
    strips = [
        gray.crop((0, 0, w, band)),
        gray.crop((0, h - band, w, h)),
        gray.crop((0, 0, band, h)),
        gray.crop((w - band, 0, w, h)),
    ]
    hist = [0] * 256
    for strip in strips:
        for level, n in enumerate(strip.histogram()):
            hist[level] += n
    half, seen = sum(hist) / 2, 0
    for level, n in enumerate(hist):
        seen += n
        if seen >= half:
            return level
    return 0


def prepare(gray: Image.Image) -> Digit:
    """MNIST-style framing of a grayscale picture (see the module's docstring)."""
    background = border_level(gray)
    inverted = background > 127
    if inverted:
        gray = ImageOps.invert(gray)
        background = 255 - background
    top = _extrema(gray)[1] - background
    if top > 0:
        gray = gray.point(lambda v: round(max(0, v - background) * 255 / top))
    bbox = gray.point(lambda v: 255 if v >= INK else 0).getbbox() if top > 0 else None
    if bbox is None:  # a blank picture: nothing to crop around
        canvas = gray.resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    else:
        crop = gray.crop(bbox)
        w, h = crop.size
        scale = BOX / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = crop.resize(size, Image.Resampling.LANCZOS)
        cx, cy = _centre_of_mass(small)
        left = min(max(round(SIDE / 2 - cx), 0), SIDE - size[0])
        upper = min(max(round(SIDE / 2 - cy), 0), SIDE - size[1])
        canvas = Image.new("L", (SIDE, SIDE), 0)
        canvas.paste(small, (left, upper))
    pixels = torch.frombuffer(bytearray(canvas.tobytes()), dtype=torch.uint8).view(1, SIDE, SIDE)
    return Digit(pixels, inverted)


def _extrema(img: Image.Image) -> tuple[int, int]:
    """Darkest and brightest value of a one-band 8-bit image."""
    lo, hi = img.getextrema()
    return int(lo), int(hi)  # type: ignore[arg-type]


def _centre_of_mass(img: Image.Image) -> tuple[float, float]:
    w, h = img.size
    values = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(h, w).to(torch.float64)
    total = float(values.sum())
    if total == 0:
        return w / 2, h / 2
    xs = torch.arange(w, dtype=torch.float64) + 0.5
    ys = torch.arange(h, dtype=torch.float64) + 0.5
    return float((values.sum(0) * xs).sum()) / total, float((values.sum(1) * ys).sum()) / total


def load_digit(path: str | Path) -> Digit:
    """Read one picture of a digit, any size, colour or polarity, as an MNIST-like image."""
    return prepare(open_gray(path))
