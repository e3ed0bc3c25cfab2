"""Turning a user's picture of a digit into an MNIST-like 28x28 image.

MNIST digits are light strokes on a black background, scaled to fit a 20x20 box
and placed in a 28x28 frame by their centre of mass. A photo or a drawing rarely
looks like that, so each picture is made grayscale, inverted when its background
is light, stretched to the full 0-255 range, cropped to the digit, scaled to 20
pixels on its longer side and centred the same way.

``prepare`` is the one preprocessing of zoo-vision: pictures in a training folder,
``zoo eval --data``, ``zoo predict``, ``zoo serve`` and ``transforms()`` all go through it,
so a model sees its inputs framed exactly as it was trained.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from zoo.plugin import DataError, UsageError, limit, open_regular, too_large
from zoo_vision import pictures
from zoo_vision.facts import SIDE
from zoo_vision.pictures import DECODE_SECONDS, open_picture, unreadable

#: The side of the box a digit is scaled to fit inside the SIDE x SIDE frame (MNIST's framing).
BOX = 20
#: The frame whose median brightness is the background is 1/BAND of the shorter side wide.
BAND = 28
#: Pixels at least this bright (after stretching) count as part of the digit when cropping.
INK = 48
#: Most pixels a picture may decode to (4096 x 4096). A digit needs 28 x 28; a phone photo
#: is about 12 million. A small, highly compressed file can declare far more, and decoding
#: it would cost gigabytes of memory and seconds of CPU, so the size is checked first.
MAX_PIXELS = 4096 * 4096
#: JPEGs larger than this on both sides are decoded at 1/2, 1/4 or 1/8 scale (cheap in the
#: decoder itself); the picture is shrunk to 20 pixels anyway.
DRAFT_SIDE = 1024
#: What a picture is called in messages about its file.
WHAT = "an image"

# The pixel budget above is stricter than Pillow's own bomb check, whose warning would only
# repeat it less clearly.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass
class Digit:
    """A prepared image: uint8 pixels (1, 28, 28), and whether the picture had to be inverted."""

    pixels: torch.Tensor
    inverted: bool


def file_cap() -> int:
    """Bytes one picture file may hold: zoo's cap for images, or ZOO_MAX_FILE_MB when that is set."""
    return limit("image")


def read_image_file(path: str | Path) -> bytes:
    """A picture file's bytes through zoo's bounded reader (regular files only, capped).

    A read that fails (EIO, EPERM) or finds no data ready (a non-blocking read) is a
    DataError naming the file, so ``--skip-bad-images`` can skip it like a damaged picture.
    """
    file = Path(path)
    cap = file_cap()
    hint = "give the path of a PNG, JPEG or other image"
    with open_regular(file, WHAT, hint) as handle:
        if os.fstat(handle.fileno()).st_size > cap:
            raise too_large(file, WHAT, cap)
        chunks: list[bytes] = []
        total = 0
        while total <= cap:
            try:
                block = handle.read(cap + 1 - total)
            except OSError as exc:
                raise DataError(f"cannot be read: {exc.strerror or exc}", path=file, hint=hint) from None
            if block is None:
                why = "cannot be read: no data was ready (a non-blocking file)"
                raise DataError(why, path=file, hint=hint)
            if not block:
                break
            chunks.append(block)
            total += len(block)
    if total > cap:  # the file grew while it was read
        raise too_large(file, WHAT, cap)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def open_gray(path: str | Path, max_pixels: int = MAX_PIXELS, raise_with: str = "") -> Image.Image:
    """The picture in a file as 8-bit grayscale; transparent parts take the colour opposite the ink's."""
    return decode_gray(read_image_file(path), path, max_pixels, raise_with)


def decode_gray(
    data: bytes,
    name: str | Path,
    max_pixels: int = MAX_PIXELS,
    raise_with: str = "",
    seconds: float = DECODE_SECONDS,
) -> Image.Image:
    """Encoded picture bytes (a format of ``pictures.FORMATS``; a GIF's first frame) as 8-bit grayscale.

    The one decoder of zoo-vision, bounded as ``pictures`` describes. ``name`` is what errors
    call the picture; ``raise_with`` says how the caller lets the user raise ``max_pixels``
    (an option), for the message about a picture over it.
    """
    img = open_picture(data, name, max_pixels, raise_with, DRAFT_SIDE, seconds)
    try:
        return _flatten(img)
    except Exception as exc:  # an odd mode or palette the decoder accepted: still the file's fault
        raise unreadable(name, f"{type(exc).__name__} while converting it to grayscale") from None


def check_pixels(
    size: tuple[int, int], path: str | Path, max_pixels: int = MAX_PIXELS, raise_with: str = ""
) -> None:
    """Refuse a picture whose declared size is over ``max_pixels``, before a byte of it is decoded."""
    pictures.check_pixels(size, path, max_pixels, raise_with)


#: Modes of more than 8 bits per pixel, which Pillow's convert("L") would clip at 255.
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _eight_bit(img: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float picture scaled (not clipped) into 8-bit grayscale."""
    values = np.asarray(img, dtype=np.float64).clip(min=0)
    top = float(values.max()) if values.size else 0.0
    if img.mode == "F" and top <= 1.0:
        full = 1.0
    elif img.mode.startswith("I;16") or 255 < top <= 65535:
        full = 65535.0
    else:
        full = max(top, 255.0)
    return Image.fromarray((values * (255.0 / full)).round().astype(np.uint8))


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode in WIDE_MODES:
        return _eight_bit(img)
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
    band = max(1, min(w, h) // BAND)
    strips = [
        gray.crop((0, 0, w, band)),
        gray.crop((0, h - band, w, h)),
        gray.crop((0, 0, band, h)),
        gray.crop((w - band, 0, w, h)),
    ]
    hist = np.sum([np.asarray(strip.histogram(), dtype=np.int64) for strip in strips], axis=0)
    # the lowest level at or below which half of the frame's pixels lie
    return int(np.searchsorted(np.cumsum(hist), hist.sum() / 2, side="left"))


@functools.lru_cache(maxsize=4096)
def _stretch(background: int, top: int) -> list[int]:
    """The lookup table that maps ``background`` to 0 and ``background + top`` to 255."""
    return [round(max(0, v - background) * 255 / top) for v in range(256)]


#: The lookup table that keeps the ink (at least INK) and blanks the rest, for cropping.
_INK_MASK = [255 if v >= INK else 0 for v in range(256)]


def prepare(gray: Image.Image) -> Digit:
    """MNIST-style framing of a grayscale picture (see the module's docstring)."""
    background = border_level(gray)
    inverted = background > 127
    if inverted:
        gray = ImageOps.invert(gray)
        background = 255 - background
    top = _extrema(gray)[1] - background
    if top > 0:
        gray = gray.point(_stretch(background, top))
    bbox = gray.point(_INK_MASK).getbbox() if top > 0 else None
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


def load_digit(path: str | Path, max_pixels: int = MAX_PIXELS, raise_with: str = "") -> Digit:
    """Read one picture of a digit, any size, colour or polarity, as an MNIST-like image."""
    return prepare(open_gray(path, max_pixels, raise_with))


def digit_from(item: Any, name: str = "the input") -> Digit:
    """One input in any form predict takes, through the same framing as a picture file.

    A path (``str`` or ``Path``), encoded bytes, a PIL image, a torch tensor ``(H, W)`` or
    ``(C, H, W)`` or a numpy array ``(H, W)`` or ``(H, W, C)``, with C of 1, 3 or 4; numbers
    are pixels, 0..255 (or 0..1 as floats, as torchvision's ToTensor gives them).
    """
    if isinstance(item, (str, Path)):
        return load_digit(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return prepare(decode_gray(bytes(item), name))
    if isinstance(item, Image.Image):
        check_pixels(item.size, name)
        return prepare(_flatten(item))
    if hasattr(item, "__array_interface__") and not isinstance(item, torch.Tensor):
        array = torch.from_numpy(np.array(item))  # a copy: the caller's array may be read-only
        item = array.movedim(-1, 0) if array.dim() == 3 else array  # numpy's (H, W, C) -> (C, H, W)
    if isinstance(item, torch.Tensor):
        return prepare(_flatten(_tensor_image(item, name)))
    raise UsageError(
        f"{name} is a {type(item).__name__}, not a picture",
        hint="give an image path, encoded image bytes, a PIL image or a (C, H, W) tensor of pixels",
    )


def _tensor_image(x: torch.Tensor, name: str) -> Image.Image:
    """A (H, W) or (C, H, W) tensor of pixels as a PIL image (L, RGB or RGBA)."""
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3 or x.shape[0] not in (1, 3, 4) or x.shape[1] < 1 or x.shape[2] < 1:
        raise UsageError(
            f"{name} has shape {tuple(x.shape)}; a picture is (H, W) or (C, H, W) with 1, 3 or 4 channels"
        )
    check_pixels((int(x.shape[2]), int(x.shape[1])), name)
    x = x.detach().cpu()
    if x.dtype != torch.uint8:
        x = x.to(torch.float64)
        if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 255:
            raise UsageError(
                f"{name} holds values outside 0..255 (or not finite): give pixels, not normalized inputs",
                hint="pass the picture itself; the model's normalization is part of transforms()",
            )
        scale = 255.0 if float(x.max()) <= 1.0 else 1.0
        x = (x * scale).round().to(torch.uint8)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[int(x.shape[0])]
    hwc = x.permute(1, 2, 0).contiguous()
    return Image.frombytes(mode, (int(hwc.shape[1]), int(hwc.shape[0])), hwc.numpy().tobytes())
