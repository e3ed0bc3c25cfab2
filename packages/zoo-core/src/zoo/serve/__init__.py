"""``zoo serve``: checkpoints behind a small HTTP API and a page to try them.

Prediction goes through each plugin's ``ModelAdapter.predict``, so the API answers
exactly what ``zoo predict --json`` prints. Inputs never name server files: images
arrive as bytes and are written to a private temporary file (errors name the upload,
never that file), and options that read files (``csv``) are not accepted. What one
request may cost is bounded before any work (``zoo.serve.limits``). Errors the user can
fix come back as 4xx JSON with zoo's own message; anything else is a 500 without a
traceback.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import CheckpointError, UsageError, ZooError
from zoo.serve.limits import (
    MAX_GENERATE,
    MAX_INPUTS,
    MAX_NUMBERS,
    check_pixels,
    check_seed,
    check_texts,
    json_safe,
)

SERVE_EXTRA = "pip install 'zoo-core[serve]'"
#: Largest request body accepted, in bytes (413 beyond).
MAX_BODY = 2 * 1024 * 1024
STATIC = Path(__file__).parent / "static"
log = logging.getLogger("zoo.serve")
__all__ = ["MAX_BODY", "MAX_GENERATE", "MAX_INPUTS", "Served", "load_models", "require_serve_extra"]


def require_serve_extra() -> None:
    missing = [m for m in ("starlette", "uvicorn", "multipart") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"zoo serve needs {', '.join(missing)}, which is not installed", hint=SERVE_EXTRA)


@dataclass
class Served:
    """One loaded model and what the API says about it (described once, when it is loaded)."""

    name: str
    loaded: Any
    adapter: Any
    description: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.description:
            self.description = describe(self.name, self.loaded, self.adapter)

    @property
    def data_meta(self) -> dict[str, Any]:
        meta = self.loaded.metadata.get("data_meta")
        return meta if isinstance(meta, dict) else {}

    def describe(self) -> dict[str, Any]:
        return self.description

    def predict(
        self, inputs: list[Any], options: dict[str, Any], names: list[str | None] | None = None
    ) -> list[dict[str, Any]]:
        """Inputs from JSON (or uploads) through the plugin's predict, as ``zoo predict --json``.

        ``names`` are the uploads' file names (None for inputs from JSON), used in errors.
        """
        import torch

        from zoo.checkpoint import plugin_call
        from zoo.predict import check_range

        if not isinstance(inputs, list) or not inputs:
            raise UsageError('give a non-empty list "inputs"', hint='{"inputs": ["1.5"], "options": {}}')
        if len(inputs) > MAX_INPUTS:
            raise UsageError(f"at most {MAX_INPUTS} inputs per request, got {len(inputs)}")
        opts = clean_options(options)
        for option in self.loaded.spec.predict_options:  # the plugin's declared bounds, as zoo predict checks them
            check_range(f"option {option.name}", opts.get(option.name), option.low, option.high)
        kind = self.description["input_form"].get("kind")
        given = names or []
        noun = "image" if kind == "image" else "input"
        labels = [_label(i, given[i] if i < len(given) else None, noun) for i in range(len(inputs))]
        with tempfile.TemporaryDirectory(prefix="zoo-serve-") as tmp:
            folder = Path(tmp)
            try:
                if kind == "image":
                    paths = [write_image(item, folder, i) for i, item in enumerate(inputs)]
                    check_pixels([Path(p) for p in paths], labels)
                    texts = paths
                else:
                    texts = [as_text(item, kind, labels[i]) for i, item in enumerate(inputs)]
                    check_texts(texts, opts)
                results: list[dict[str, Any]] = plugin_call(
                    self.loaded.path,
                    self.loaded.spec,
                    "predict",
                    lambda: self.adapter.predict(self.loaded.model, texts, self.data_meta, opts, torch.device("cpu")),
                )
            except ZooError as exc:
                raise _without_paths(exc, folder, labels) from None
        if kind == "image":
            for i, result in enumerate(results):
                result["input"] = f"image {i + 1}"
        return results


def describe(name: str, loaded: Any, adapter: Any) -> dict[str, Any]:
    """What GET /v1/models says about one model: only valid JSON, or a CheckpointError at startup.

    Metadata fields that cannot be shown (a metric of Infinity, a label list of objects) are
    dropped with a warning; a model whose inputs cannot be described is refused.
    """
    meta = loaded.metadata
    data_meta = meta.get("data_meta") if isinstance(meta.get("data_meta"), dict) else {}
    try:
        form = adapter.input_form(data_meta)
    except Exception as exc:  # the plugin read metadata it cannot use
        raise CheckpointError(
            loaded.path,
            f"cannot be served: its metadata does not describe its inputs ({type(exc).__name__}: {exc})",
            hint="serve a checkpoint written by zoo train, or retrain the model",
        ) from None
    if not isinstance(form, dict) or not json_safe(form):
        raise CheckpointError(loaded.path, "cannot be served: its input description is not valid JSON")
    raw_metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    metrics = {k: v for k, v in raw_metrics.items() if isinstance(k, str) and json_safe(v)}
    dropped = sorted(str(k)[:40] for k in set(raw_metrics) - set(metrics))
    if dropped:
        log.warning(
            "warning: %s: metric(s) %s are not valid JSON (not finite?) and are not shown", name, ", ".join(dropped)
        )
    labels = data_meta.get("classes")
    epoch = meta.get("epoch")
    description = {
        "name": name,
        "model": loaded.spec.full_name,
        "task": loaded.spec.task,
        "summary": loaded.spec.summary,
        "checkpoint": loaded.path.name,
        "epoch": epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
        "metrics": metrics,
        "input_form": form,
        "labels": labels if isinstance(labels, list) and json_safe(labels) else None,
    }
    if not json_safe(description):
        raise CheckpointError(loaded.path, "cannot be served: its description is not valid JSON")
    return description


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


OPTION_KINDS: dict[str, type] = {"top": int, "generate": int, "seed": int, "temperature": float}


def clean_options(options: Any) -> dict[str, Any]:
    """Only the prediction options that read no files, with their types and ranges checked."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise UsageError('"options" must be an object', hint='{"options": {"top": 3}}')
    unknown = sorted(str(k)[:40] for k in set(options) - set(OPTION_KINDS))
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(unknown)}", hint=f"options are {', '.join(OPTION_KINDS)}")
    out: dict[str, Any] = {}
    for key, kind in OPTION_KINDS.items():
        value = options.get(key)
        if value is None or value == "":
            continue
        shown = _short(value)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UsageError(f"option {key} must be a {kind.__name__}, got {shown}")
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise UsageError(f"option {key} must be a whole number, got {shown}")
        try:
            number = kind(value)
        except (TypeError, ValueError, OverflowError):
            raise UsageError(f"option {key} must be a {kind.__name__}, got {shown}") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise UsageError(f"option {key} must be a finite number, got {shown}")
        out[key] = number
    if out.get("generate", 0) > MAX_GENERATE:
        raise UsageError(f"option generate is at most {MAX_GENERATE}, got {_short(out['generate'])}")
    if "seed" in out:
        check_seed(out["seed"])
    return out


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
                raise UsageError(f"{label} ({_short(item)}) must be a list of numbers")
            return ",".join(repr(float(v)) for v in item)
    except OverflowError:
        raise UsageError(f"{label} holds a number too large for a float ({_short(item)})") from None
    if isinstance(item, str):
        return item
    raise UsageError(f"{label} ({_short(item)}) must be {'numbers' if kind == 'numbers' else 'a string'}")


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


def _label(index: int, name: str | None, noun: str) -> str:
    """How errors name an input: ``image 2``, or ``upload 2 (digit.png)`` for a named file."""
    if not name:
        return f"{noun} {index + 1}"
    shown = "".join(c if c.isprintable() else "?" for c in name)[:60]
    return f"upload {index + 1} ({shown})"


def _without_paths(exc: ZooError, folder: Path, labels: list[str]) -> UsageError:
    """The plugin's error with the private temporary files named as the user's inputs."""

    def clean(text: str | None) -> str | None:
        if text is None:
            return None
        for i, label in enumerate(labels):
            name = label if label.startswith("upload") else f"image {i + 1}"
            text = text.replace(f"{folder}{os.sep}image-{i + 1}", name)
        return text.replace(str(folder), "upload")

    error = UsageError(clean(exc.message) or "", clean(exc.hint))
    error.exit_code = exc.exit_code
    return error


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, (list, dict)) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def error_body(exc: ZooError) -> dict[str, Any]:
    return {"error": exc.message, "hint": exc.hint}
