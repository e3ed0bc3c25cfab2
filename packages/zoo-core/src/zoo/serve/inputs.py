"""``/v1`` inputs as ``zoo predict`` takes them: JSON numbers and text as strings, images as files.

Images arrive as bytes (base64 in JSON, or multipart uploads). A plugin that reads uploads
itself gets them decoded ahead of the model's queue (``serve.decoding``, as ``Decoded``);
for any other they are written to a private temporary file for the plugin's reader. Errors
name the upload, never that file.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, ZooError
from zoo.serve.limits import MAX_NUMBERS


@dataclass(frozen=True)
class Decoded:
    """One upload as the plugin read it (what its ``predict`` takes), and how errors name it."""

    value: Any
    label: str


def as_text(item: Any, kind: str | None, label: str = "an input") -> str:
    """A JSON input as the string ``zoo predict`` would get: numbers joined by commas."""
    if isinstance(item, (bytes, bytearray)):
        raise UsageError(
            f"{label} is a file, but this model takes {'numbers' if kind == 'numbers' else 'text'}",
            hint='send it as JSON: {"inputs": ["..."]}, or as a form field named inputs',
        )
    if isinstance(item, bool):
        raise UsageError(f"{label} ({item!r}) is not a number or text")
    try:
        if isinstance(item, (int, float)):
            return repr(float(item))
        if isinstance(item, list) and kind == "numbers":
            if len(item) > MAX_NUMBERS:
                raise UsageError(f"{label} has {len(item):,} numbers; the limit per input is {MAX_NUMBERS:,}")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item):
                raise UsageError(f"{label} ({short(item)}) must be a list of numbers")
            return ",".join(repr(float(v)) for v in item)
    except OverflowError:
        raise UsageError(f"{label} holds a number too large for a float ({short(item)})") from None
    if isinstance(item, str):
        return item
    raise UsageError(f"{label} ({short(item)}) must be {'numbers' if kind == 'numbers' else 'a string'}")


def write_image(item: Any, folder: Path, index: int) -> str:
    """Base64 (optionally a ``data:`` URL) or raw bytes, written to a private file for the plugin."""
    data = image_bytes(item, index)
    path = folder / f"image-{index + 1}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return str(path)


def image_bytes(item: Any, index: int) -> bytes:
    """One image input's bytes: base64 (optionally a ``data:`` URL), ``{"image": ...}`` or raw bytes."""
    if isinstance(item, dict):
        item = item.get("image", item.get("data"))
    if isinstance(item, (bytes, bytearray)):
        data = bytes(item)
    elif isinstance(item, str):
        text = item.split(",", 1)[1] if item.startswith("data:") and "," in item else item
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise UsageError(f"image {index + 1} is not valid base64", hint="send the file's bytes in base64") from None
    else:
        raise UsageError(f"image {index + 1} must be a base64 string", hint='{"inputs": ["iVBORw0KGgo..."]}')
    if not data:
        raise UsageError(f"image {index + 1} is empty")
    return data


def label(index: int, name: str | None, noun: str) -> str:
    """How errors name an input: ``image 2``, or ``upload 2 (digit.png)`` for a named file."""
    if not name:
        return f"{noun} {index + 1}"
    shown = "".join(c if c.isprintable() else "?" for c in name)[:60]
    return f"upload {index + 1} ({shown})"


def without_paths(exc: ZooError, folder: Path, labels: list[str]) -> UsageError:
    """The plugin's error with the private temporary files named as the user's inputs."""

    def clean(text: str | None) -> str | None:
        if text is None:
            return None
        for i, name in enumerate(labels):
            shown = name if name.startswith("upload") else f"image {i + 1}"
            text = text.replace(f"{folder}{os.sep}image-{i + 1}", shown)
        return text.replace(str(folder), "upload")

    error = UsageError(clean(exc.message) or "", clean(exc.hint))
    error.exit_code = exc.exit_code
    return error


def short(value: Any) -> str:
    text = repr(value) if not isinstance(value, (list, dict)) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
