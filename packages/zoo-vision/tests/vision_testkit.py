"""Tiny MNIST for the tests, written in torchvision's layout.

Also class folders of such shapes saved in many picture formats, for `--data DIR`.

Four digits drawn as simple shapes (0 a ring, 1 a vertical bar, 2 a horizontal bar,
3 an X) with a little random jitter, framed like MNIST's digits (a 20x20 box in a
28x28 image): small enough to train on in seconds, distinct enough that a model
trained on them recognizes the same shapes drawn large. The module has a name of its
own so that it cannot be confused with another package's test helpers.
"""

from __future__ import annotations

import gzip
import io
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from zoo_vision.idx import encode_images, encode_labels

#: The type of the ``cli`` fixture: run ``zoo ARGS`` in a subprocess.
Cli = Callable[..., "subprocess.CompletedProcess[str]"]

SHAPES = 4
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def draw_shape(
    label: int,
    size: int = 28,
    stroke: float = 2.5,
    shift: tuple[int, int] = (0, 0),
    ink: int = 255,
    paper: int = 0,
    mode: str = "L",
) -> Image.Image:
    """One shape filling the middle 20/28 of a ``size`` square: light ``ink`` on ``paper`` by default."""
    colour_ink: int | tuple[int, int, int] = ink
    colour_paper: int | tuple[int, int, int] = paper
    if mode == "RGB":
        colour_ink, colour_paper = (ink, ink // 3, 0), (paper, paper, min(255, paper + 40))
    img = Image.new(mode, (size, size), colour_paper)
    draw = ImageDraw.Draw(img)
    s = size / 28
    lo, hi = 4 * s, 24 * s
    mid = 14 * s
    dx, dy = shift[0] * s, shift[1] * s
    width = max(1, round(stroke * s))
    if label == 0:
        draw.ellipse((lo + 3 * s + dx, lo + dy, hi - 3 * s + dx, hi + dy), outline=colour_ink, width=width)
    elif label == 1:
        draw.line((mid + dx, lo + dy, mid + dx, hi + dy), fill=colour_ink, width=width)
    elif label == 2:
        draw.line((lo + dx, mid + dy, hi + dx, mid + dy), fill=colour_ink, width=width)
    else:
        draw.line((lo + dx, lo + dy, hi + dx, hi + dy), fill=colour_ink, width=width)
        draw.line((lo + dx, hi + dy, hi + dx, lo + dy), fill=colour_ink, width=width)
    return img


def make_split(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` jittered shapes, labels cycling through 0..SHAPES-1."""
    rng = random.Random(seed)
    images, labels = [], []
    for i in range(count):
        label = i % SHAPES
        img = draw_shape(label, stroke=rng.uniform(1.5, 3.5), shift=(rng.randint(-2, 2), rng.randint(-2, 2)))
        images.append(torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(28, 28))
        labels.append(label)
    return torch.stack(images), torch.tensor(labels)


def write_mnist(data_dir: Path, n_train: int = 64, n_test: int = 32, gz: bool = False, seed: int = 0) -> Path:
    """Write the four IDX files to ``data_dir/MNIST/raw`` (gzipped when ``gz``); return that folder."""
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, count, split_seed in (("train", n_train, seed), ("test", n_test, seed + 1)):
        images, labels = make_split(count, split_seed)
        for name, payload in zip(FILES[split], (encode_images(images), encode_labels(labels)), strict=True):
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(payload, mtime=0))
            else:
                (raw / name).write_bytes(payload)
    return raw


#: Class folders of drawn shapes for the own-data tests, sorted: class indices 0, 1, 2.
NAMES = ("bar", "cross", "ring")  # sorted: the class indices are 0, 1, 2
SHAPE_OF = {"ring": 0, "bar": 1, "dash": 2, "cross": 3, "star": 3}


def every_form(shape: int, i: int) -> tuple[str, bytes]:
    """One drawing saved in the i-th of several formats Pillow reads: (suffix, file bytes)."""
    light = draw_shape(shape, size=28 + 13 * (i % 5), stroke=2.5 + i % 3)
    dark = draw_shape(shape, size=40 + 7 * (i % 4), stroke=3, ink=0, paper=255)
    out = io.BytesIO()
    form = i % 8
    if form == 0:
        light.save(out, "PNG")
    elif form == 1:
        dark.convert("RGB").save(out, "JPEG", quality=95)
    elif form == 2:
        dark.convert("P").save(out, "GIF")
    elif form == 3:  # 16-bit grayscale
        Image.fromarray(np.asarray(light, dtype=np.uint16) * 257).save(out, "PNG")
    elif form == 4:  # dark ink on transparent paper
        rgba = Image.new("RGBA", dark.size, (0, 0, 0, 0))
        rgba.putalpha(Image.eval(dark, lambda v: 255 - v))
        rgba.save(out, "PNG")
    elif form == 5:
        dark.convert("CMYK").save(out, "JPEG", quality=95)
    elif form == 6:
        dark.convert("RGB").resize((301, 257)).save(out, "BMP")
    else:
        light.convert("RGB").save(out, "TIFF")
    return (".png", ".jpg", ".gif", ".png", ".png", ".jpg", ".bmp", ".tif")[form], out.getvalue()


def make_folder(root: Path, per_class: int = 12, names: tuple[str, ...] = NAMES) -> Path:
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            suffix, data = every_form(SHAPE_OF[name], i)
            (root / name / f"{i:03d}{suffix}").write_bytes(data)
    return root


def snapshot(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))
