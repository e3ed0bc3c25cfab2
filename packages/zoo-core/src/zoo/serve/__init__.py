"""``zoo serve``: checkpoints behind a small HTTP API and a page to try them.

Prediction goes through each plugin's ``ModelAdapter.predict``, so the API answers
exactly what ``zoo predict --json`` prints. Inputs never name server files: images
arrive as bytes and are written to a private temporary file, and options that read
files (``csv``) are not accepted. Errors the user can fix come back as 4xx JSON with
zoo's own message; anything else is a 500 without a traceback.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, ZooError

SERVE_EXTRA = "pip install 'zoo-core[serve]'"
#: Largest request body accepted, in bytes (413 beyond).
MAX_BODY = 2 * 1024 * 1024
#: Most inputs in one request, and most characters one request may generate.
MAX_INPUTS = 64
MAX_GENERATE = 2000
STATIC = Path(__file__).parent / "static"
log = logging.getLogger("zoo.serve")


def require_serve_extra() -> None:
    missing = [m for m in ("starlette", "uvicorn", "multipart") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"zoo serve needs {', '.join(missing)}, which is not installed", hint=SERVE_EXTRA)


@dataclass
class Served:
    """One loaded model and what the API says about it."""

    name: str
    loaded: Any
    adapter: Any

    @property
    def data_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = self.loaded.metadata.get("data_meta", {})
        return meta

    def describe(self) -> dict[str, Any]:
        meta = self.loaded.metadata
        return {
            "name": self.name,
            "model": self.loaded.spec.full_name,
            "task": self.loaded.spec.task,
            "summary": self.loaded.spec.summary,
            "checkpoint": self.loaded.path.name,
            "epoch": meta.get("epoch"),
            "metrics": meta.get("metrics", {}),
            "input_form": self.adapter.input_form(self.data_meta),
            "labels": self.data_meta.get("classes"),
        }

    def predict(self, inputs: list[Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        """Inputs from JSON (or uploads) through the plugin's predict, as ``zoo predict --json``."""
        import torch

        if not isinstance(inputs, list) or not inputs:
            raise UsageError('give a non-empty list "inputs"', hint='{"inputs": ["1.5"], "options": {}}')
        if len(inputs) > MAX_INPUTS:
            raise UsageError(f"at most {MAX_INPUTS} inputs per request, got {len(inputs)}")
        opts = clean_options(options)
        kind = self.describe()["input_form"].get("kind")
        with tempfile.TemporaryDirectory(prefix="zoo-serve-") as tmp:
            if kind == "image":
                texts = [write_image(item, Path(tmp), i) for i, item in enumerate(inputs)]
            else:
                texts = [as_text(item, kind) for item in inputs]
            results: list[dict[str, Any]] = self.adapter.predict(
                self.loaded.model, texts, self.data_meta, opts, torch.device("cpu")
            )
        if kind == "image":
            for i, result in enumerate(results):
                result["input"] = f"image {i + 1}"
        return results


def load_models(refs: list[str]) -> dict[str, Served]:
    """Each reference loaded once; a second checkpoint of the same model is served as NAME-2."""
    from zoo.adapter import adapter_for
    from zoo.export import load_ref

    served: dict[str, Served] = {}
    for ref in refs:
        loaded = load_ref(ref)
        name, n = loaded.spec.full_name, 1
        while name in served:
            n += 1
            name = f"{loaded.spec.full_name}-{n}"
        served[name] = Served(name, loaded, adapter_for(loaded.spec))
    return served


def clean_options(options: Any) -> dict[str, Any]:
    """Only the prediction options that read no files, with their types checked."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise UsageError('"options" must be an object', hint='{"options": {"top": 3}}')
    kinds: dict[str, type] = {"top": int, "generate": int, "seed": int, "temperature": float}
    unknown = sorted(set(options) - set(kinds))
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)}", hint=f"options are {', '.join(kinds)}")
    out: dict[str, Any] = {}
    for key, kind in kinds.items():
        value = options.get(key)
        if value is None or value == "":
            continue
        try:
            out[key] = kind(value)
        except (TypeError, ValueError):
            raise UsageError(f"option {key} must be a {kind.__name__}, got {value!r}") from None
    if out.get("generate", 0) > MAX_GENERATE:
        raise UsageError(f"option generate is at most {MAX_GENERATE}, got {out['generate']}")
    return out


def as_text(item: Any, kind: str | None) -> str:
    """A JSON input as the string ``zoo predict`` would get: numbers joined by commas."""
    if isinstance(item, bool):
        raise UsageError(f"input {item!r} is not a number or text")
    if isinstance(item, (int, float)):
        return repr(float(item))
    if isinstance(item, list) and kind == "numbers":
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item):
            raise UsageError(f"input {item!r} must be a list of numbers")
        return ",".join(repr(float(v)) for v in item)
    if isinstance(item, str):
        return item
    raise UsageError(f"input {json.dumps(item)[:60]} must be {'numbers' if kind == 'numbers' else 'a string'}")


def write_image(item: Any, folder: Path, index: int) -> str:
    """Base64 (optionally a ``data:`` URL) or raw bytes, written to a private file for the plugin."""
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
    path = folder / f"image-{index + 1}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return str(path)


def error_body(exc: ZooError) -> dict[str, Any]:
    return {"error": exc.message, "hint": exc.hint}
