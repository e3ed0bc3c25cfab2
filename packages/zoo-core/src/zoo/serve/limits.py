"""What one request to ``zoo serve`` may cost, checked before any work, and JSON-safe answers.

A request of a few kilobytes can ask for a lot: 64 inputs that each ask a character
model for thousands of new characters, half a megabyte of text whose every position gets
a distribution, or a small image file that declares millions of pixels. Each of those is refused here with
the limit named, before a model runs. Descriptions are checked JSON-safe here too
(answers are made so by ``zoo.jsonout``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.contracts.settings import MAX_SEED
from zoo.errors import UsageError

#: Largest request body accepted, in bytes (413 beyond; ``--max-body``).
MAX_BODY = 2 * 1024 * 1024
#: Most inputs in one request.
MAX_INPUTS = 64
#: Longest text (or numbers written as text) one input may be, in characters.
MAX_TEXT = 4000
#: Most values in one input given as a JSON list of numbers.
MAX_NUMBERS = 1024
#: Characters one request may read, plus the model steps its options add (``ModelAdapter.extra_steps``).
MAX_CHARACTERS = 16_000
#: Pixels one request's images may declare in total (four 4096 x 4096 pictures).
MAX_REQUEST_PIXELS = 4 * 4096 * 4096


def check_texts(texts: list[str], extra_steps: int) -> None:
    """Refuse text inputs that are too long, or too much to read and compute in one request.

    ``extra_steps`` is what the model's adapter says the options add (characters to generate).
    """
    for i, text in enumerate(texts):
        if len(text) > MAX_TEXT:
            raise UsageError(
                f"input {i + 1} is {len(text):,} characters; the limit per input is {MAX_TEXT:,}",
                hint="send a shorter text, or split it over several requests",
            )
    total = sum(len(text) for text in texts) + extra_steps
    if total > MAX_CHARACTERS:
        raise UsageError(
            f"this request reads and generates {total:,} characters; the limit per request is "
            f"{MAX_CHARACTERS:,} (input characters plus the model steps its options ask for)",
            hint="send fewer or shorter inputs, or ask for fewer new characters",
        )


def check_pixels(paths: list[Path], names: list[str]) -> None:
    """Refuse a request whose images declare more than MAX_REQUEST_PIXELS together.

    Only the headers are read (Pillow opens lazily); a file Pillow cannot identify is left
    to the plugin, which says what is wrong with it. Each image's own limit is the plugin's,
    so a single image is left to it entirely.
    """
    if len(paths) < 2:
        return
    try:
        from PIL import Image
    except ImportError:  # no Pillow: no image model can be served either
        return
    total, largest, where = 0, 0, ""
    for path, name in zip(paths, names, strict=True):
        try:
            with Image.open(path) as img:
                width, height = img.size
        except Exception:  # any unreadable file is reported by the plugin
            continue
        total += width * height
        if width * height > largest:
            largest, where = width * height, f"{name} is {width} x {height}"
    if total > MAX_REQUEST_PIXELS:
        raise UsageError(
            f"the {len(paths)} images of this request declare {total:,} pixels together; "
            f"the limit per request is {MAX_REQUEST_PIXELS:,} (the largest: {where})",
            hint="send fewer or smaller pictures; a digit needs only 28 x 28 pixels",
        )


def check_seed(value: int) -> int:
    if not 0 <= value <= MAX_SEED:
        raise UsageError(f"option seed must be between 0 and 2**63 - 1, got {value}")
    return value


def json_safe(value: Any) -> bool:
    """Whether ``value`` is valid JSON as it stands (no NaN or Infinity, only JSON types)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True
