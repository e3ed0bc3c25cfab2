"""The schema of a checkpoint's metadata: every field typed on the way in and out.

safetensors stores metadata as strings. zoo writes plain strings as they are and
every other value as JSON, and reads each field back through this schema, so a
field of the wrong type, an absurdly nested document or a value out of range is one
clear ``CheckpointError`` naming the file and the field, never a traceback later.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.errors import CheckpointError, DataError

FORMAT_VERSION = "2"
#: Versions this zoo reads; "1" stored scalars as their str().
READABLE_VERSIONS = ("1", "2")
#: JSON documents nested deeper than this are refused (they only come from damage or attacks).
MAX_DEPTH = 32
PRECISIONS = ("fp32", "bf16", "fp16")
#: Largest ``data_meta.features`` (numbers per input row) core's adapter sizes inputs and forms by.
MAX_FEATURES = 100_000
#: Most entries in ``data_meta.classes``, ``feature_names`` and ``vocab`` (labels of outputs and inputs).
MAX_LABELS = 100_000
#: Characters in one label, and in all of a list's labels together (the checkpoint header holds them).
MAX_LABEL_CHARS = 1_000
MAX_LABELS_CHARS = 10_000_000


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON value, stopping once past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > limit:
            return level
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def _text_depth(text: str) -> int:
    """An upper bound of the nesting of a JSON text, without parsing it (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


class _LongInteger(ValueError):
    """A whole number in metadata beyond 64 bits: no builder argument or count is that large."""


def _int64(text: str) -> int:
    """json's parse_int: refuse digits a 64-bit integer cannot hold, before Python makes a big int."""
    if len(text.lstrip("-")) > 19 or not -(2**63) <= (value := int(text)) < 2**63:
        raise _LongInteger(text[:24] + ("..." if len(text) > 24 else ""))
    return value


def _nonneg_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


Check = Callable[[Any], bool]
#: field -> (what it must be, in words; the check)
SCHEMA: dict[str, tuple[str, Check]] = {
    "format": ("the string 'zoo'", lambda v: v == "zoo"),
    "format_version": ("a string", lambda v: isinstance(v, str)),
    "model": ("a model name", lambda v: isinstance(v, str) and 0 < len(v) <= 200),
    "task": ("a string", lambda v: isinstance(v, str)),
    "plugin": ("a string", lambda v: isinstance(v, str)),
    "plugin_version": ("a string", lambda v: isinstance(v, str)),
    "builder": ("a 'package.module:function' string", lambda v: isinstance(v, str) and 0 < len(v) <= 300),
    "config": ("a JSON object of builder arguments", lambda v: isinstance(v, dict)),
    "zoo_version": ("a string", lambda v: isinstance(v, str)),
    "torch_version": ("a string", lambda v: isinstance(v, str)),
    "python_version": ("a string", lambda v: isinstance(v, str)),
    "created": ("a string", lambda v: isinstance(v, str)),
    "recipe": ("a string", lambda v: isinstance(v, str)),
    "hparams": ("a JSON object", lambda v: isinstance(v, dict)),
    "seed": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63),
    "epoch": ("a non-negative integer", _nonneg_int),
    "step": ("a non-negative integer", _nonneg_int),
    "metrics": ("a JSON object", lambda v: isinstance(v, dict)),
    "dataset": ("a string", lambda v: isinstance(v, str)),
    "data_options": ("a JSON object", lambda v: isinstance(v, dict)),
    "data_meta": ("a JSON object", lambda v: isinstance(v, dict)),
    "data_source": ("a JSON object", lambda v: isinstance(v, dict)),
    "precision": (f"one of {', '.join(PRECISIONS)}", lambda v: v in PRECISIONS),
    "deterministic": ("true or false", lambda v: isinstance(v, bool)),
    "device": ("a string", lambda v: isinstance(v, str)),
    "world_size": ("a positive integer", lambda v: _nonneg_int(v) and v > 0),
    "weights_from": ("a string", lambda v: isinstance(v, str)),
    "weights_transfer": ("a string", lambda v: isinstance(v, str)),
    "optimizer_state": ("saved optimizer state", lambda v: isinstance(v, dict)),
    "scheduler_state": ("saved scheduler state", lambda v: isinstance(v, dict)),
    "scaler_state": ("a JSON object", lambda v: isinstance(v, dict)),
    "rng_state": ("a JSON object", lambda v: isinstance(v, dict)),
    "history_best": ("a JSON object or null", lambda v: v is None or isinstance(v, dict)),
    "step_in_epoch": ("a non-negative integer", _nonneg_int),
    "partial_loss": ("a finite number", _finite),
    "partial_n": ("a non-negative integer", _nonneg_int),
}
REQUIRED = ("format", "format_version", "model", "config")
#: What ``last.safetensors`` adds to resume the run exactly (``trainstate``); ``zoo info`` leaves it out.
TRAINING_STATE = ("optimizer_state", "scheduler_state", "scaler_state", "rng_state")
#: Fields that version "1" files stored as JSON; its other fields were str() of the value.
_V1_JSON = {
    "config",
    "hparams",
    "metrics",
    "data_meta",
    "data_options",
    "optimizer_state",
    "scheduler_state",
    "rng_state",
    "scaler_state",
    "history_best",
}
_V1_BOOLS = {"True": True, "False": False}


def encode(values: dict[str, Any]) -> dict[str, str]:
    """Metadata as str -> str: strings as they are, everything else as strict JSON."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None and key != "history_best":
            continue
        if key in SCHEMA and not SCHEMA[key][1](value):
            raise ValueError(f"metadata field {key!r} must be {SCHEMA[key][0]}, got {value!r:.80}")
        out[key] = value if isinstance(value, str) else json.dumps(value, allow_nan=False)
    return out


def _v1_value(key: str, text: str) -> Any:
    """A version-1 scalar: its str() form read back as the type the schema wants."""
    if text in _V1_BOOLS:
        return _V1_BOOLS[text]
    try:
        number = json.loads(text)
    except ValueError:
        return text
    return number if isinstance(number, (int, float)) and not isinstance(number, bool) else text


def decode(raw: dict[str, str], path: str | Path) -> dict[str, Any]:
    """Every field parsed and checked against the schema; unknown fields stay strings."""
    version = raw.get("format_version")
    out: dict[str, Any] = {}
    for key, text in raw.items():
        if key not in SCHEMA:
            out[key] = text
            continue
        want, check = SCHEMA[key]
        if _text_depth(text) > MAX_DEPTH:
            raise CheckpointError(path, f"metadata field {key!r} is nested more than {MAX_DEPTH} levels deep")
        if version == "1" and key not in _V1_JSON:
            value = _v1_value(key, text) if not check(text) else text
        elif check(text):
            value = text  # a plain string field
        else:
            try:
                value = json.loads(text, parse_int=_int64)
            except _LongInteger as exc:
                raise CheckpointError(
                    path, f"metadata field {key!r} holds the integer {exc}, beyond 64 bits", hint="the file is damaged"
                ) from None
            except (ValueError, RecursionError):
                raise CheckpointError(path, f"metadata field {key!r} is not valid JSON") from None
        if not check(value):
            raise CheckpointError(path, f"metadata field {key!r} must be {want}, got {text!r:.60}")
        out[key] = value
    return out


def _labels(value: Any, empty: bool = False) -> bool:
    return (
        isinstance(value, list)
        and (empty or len(value) > 0)
        and len(value) <= MAX_LABELS
        and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value)
        and label_problem(value) is None
    )


def label_problem(labels: list[Any]) -> str | None:
    """What is too long about ``labels`` (one label, or all of them together), or None."""
    total = 0
    for i, label in enumerate(labels):
        size = len(label) if isinstance(label, str) else 0
        if size > MAX_LABEL_CHARS:
            return f"label {i + 1} ({label[:40]!r}...) has {size:,} characters; the limit is {MAX_LABEL_CHARS:,}"
        total += size
    if total > MAX_LABELS_CHARS:
        return f"its {len(labels):,} labels hold {total:,} characters together; the limit is {MAX_LABELS_CHARS:,}"
    return None


def check_labels(labels: list[Any], what: str, path: str | Path | None = None) -> None:
    """Refuse labels (class names, feature names) too long to store, when the data is read, not at save."""
    problem = label_problem(labels)
    if problem is not None:
        raise DataError(f"{what}: {problem}", path, hint="use shorter names (they are stored in every checkpoint)")


def _vocab(value: Any) -> bool:
    return _labels(value) and all(isinstance(c, str) for c in value)


#: ``data_meta`` fields core reads itself (export metadata, the default adapter): what each must be.
DATA_META: dict[str, tuple[str, Check]] = {
    "features": (
        f"a whole number from 1 to {MAX_FEATURES:,}",
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_FEATURES,
    ),
    "classes": (f"a non-empty list of at most {MAX_LABELS:,} names", _labels),
    "feature_names": (f"a list of at most {MAX_LABELS:,} names", lambda v: _labels(v, empty=True)),
    "vocab": (f"a non-empty list of at most {MAX_LABELS:,} strings", _vocab),
    "standardize": ("null or an object with 'mean' and 'std'", lambda v: v is None or isinstance(v, dict)),
}


def check_data_meta(data_meta: dict[str, Any], path: str | Path) -> None:
    """The ``data_meta`` fields that size inputs and name outputs, checked before anything uses them."""
    for key, (want, check) in DATA_META.items():
        if key in data_meta and not check(data_meta[key]):
            shown = json.dumps(data_meta[key], default=str)
            raise CheckpointError(path, f"metadata field 'data_meta.{key}' must be {want}, got {shown:.60}")


def check_zoo(meta: dict[str, Any], path: str | Path) -> None:
    """Refuse files that are not zoo checkpoints of a version this zoo reads."""
    if meta.get("format") != "zoo":
        raise CheckpointError(path, "is a safetensors file but not a zoo checkpoint (no zoo metadata)")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise CheckpointError(
            path,
            f"checkpoint format {meta.get('format_version')!r} is not supported "
            f"(this zoo reads {', '.join(READABLE_VERSIONS)})",
            hint="upgrade zoo-core",
        )
    for key in REQUIRED:
        if key not in meta:
            raise CheckpointError(path, f"metadata has no {key!r} field")
    if _depth(meta) > MAX_DEPTH + 2:
        raise CheckpointError(path, f"metadata is nested more than {MAX_DEPTH} levels deep")
    check_data_meta(meta.get("data_meta", {}), path)
