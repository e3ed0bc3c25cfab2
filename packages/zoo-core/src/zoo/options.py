"""Model-specific command-line options: ``--KEY VALUE`` pairs checked against what a model offers.

Recipes, datasets and builders each declare their keys with defaults; the default's
type says how to read the text, so plugins add options without touching the CLI.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from zoo.errors import UsageError

#: Integers beyond this are typos or attacks, never sizes or counts anyone means.
MAX_INT = 2**62

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_extra_args(args: list[str]) -> dict[str, Any]:
    """``["--method", "gd", "--standardize", "--no-shuffle", "--k=v"]`` -> raw string values.

    A flag with no value is True, ``--no-KEY`` is False; types are settled later by
    ``coerce`` against the model's declared defaults.
    """
    result: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or token == "--":
            raise UsageError(f"unexpected argument {token!r}", hint="options look like --KEY VALUE; see zoo info NAME")
        key, eq, value = token[2:].partition("=")
        key = key.replace("-", "_")
        if not key:
            raise UsageError(f"empty option name in {token!r}")
        if eq:
            result[key] = value
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            result[key] = args[i + 1]
            i += 1
        elif key.startswith("no_"):
            result[key[3:]] = False
        else:
            result[key] = True
        i += 1
    return result


class TypeMismatch(ValueError):
    """A typed value that does not fit its declared default; the caller says where it came from."""


def check_typed(value: Any, default: Any) -> Any:
    """A typed value (from JSON or Python) checked against the type of ``default``.

    The rules of ``--KEY VALUE``, for values that already have a type: whole numbers
    where the default is an int (never a float or a bool), true/false where it is a
    flag, finite numbers where it is a float, text where it is text, and lists whose
    items follow the default's first item. A default of None accepts any scalar.
    """
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeMismatch(f"must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeMismatch(f"must be a whole number, got {value!r}")
        if abs(value) > MAX_INT:
            raise TypeMismatch(f"must be at most {MAX_INT} in size, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeMismatch(f"must be a number, got {value!r}")
        try:
            real = float(value)
        except OverflowError:
            real = math.inf
        if not math.isfinite(real):
            raise TypeMismatch(f"must be a finite number, got {value!r}")
        return real
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeMismatch(f"must be text, got {value!r}")
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise TypeMismatch(f"must be a list, got {value!r}")
        item = default[0] if default else None
        try:
            items = [check_typed(v, item) for v in value]
        except TypeMismatch as exc:
            raise TypeMismatch(f"must be a list whose items each {exc}") from None
        return type(default)(items)
    if default is None and not (value is None or isinstance(value, (str, int, float, bool))):
        raise TypeMismatch(f"must be a single value, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeMismatch(f"must be a finite number, got {value!r}")
    return value


def coerce(key: str, value: Any, default: Any) -> Any:
    """Read ``value`` as the type of ``default``; strings from the CLI, typed values from Python."""
    if isinstance(default, str) and isinstance(value, bool):
        raise UsageError(f"--{_dash(key)} needs a value", hint=f"--{_dash(key)} TEXT")
    if not isinstance(value, str) or default is None or isinstance(default, str):
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UsageError(f"--{_dash(key)} is a flag (true/false), got {value!r}")
        try:
            return check_typed(value, default)
        except TypeMismatch as exc:
            raise UsageError(f"--{_dash(key)} {exc}") from None
    text = value.strip()
    try:
        if "_" in text:
            raise ValueError(text)  # int("4_0") is 40: never what a person meant
        if isinstance(default, bool):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if isinstance(default, int):
            number = int(text)
            if abs(number) > MAX_INT:
                raise UsageError(f"--{_dash(key)} must be at most {MAX_INT} in size, got {value!r}")
            return number
        if isinstance(default, float):
            real = float(text)
            if not math.isfinite(real):
                raise UsageError(f"--{_dash(key)} must be a finite number, got {value!r}")
            return real
        if isinstance(default, (list, tuple)):
            items = [p.strip() for p in text.split(",") if p.strip()]
            kind = type(default[0]) if default else str
            return type(default)(kind(p) for p in items)
    except ValueError:
        kind_name = type(default).__name__
        raise UsageError(f"--{_dash(key)} expects {kind_name}, got {value!r}") from None
    return value


def suggest(key: str, known: Iterable[str], spell: Callable[[str], str]) -> str:
    """The hint for an unknown key: the close matches, else every known one (spelt by ``spell``)."""
    names = sorted(known)
    close = difflib.get_close_matches(key, names, n=2, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(spell(c) for c in close) + "?"
    return ("known: " if names else "none is known") + ", ".join(spell(k) for k in names)


def split_overrides(overrides: Mapping[str, Any], groups: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sort user overrides into groups (hparams, data, config) by which declares the key."""
    sorted_: dict[str, dict[str, Any]] = {group: {} for group in groups}
    known = [k for declared in groups.values() for k in declared]
    for key, value in overrides.items():
        for group, declared in groups.items():
            if key in declared:
                sorted_[group][key] = coerce(key, value, declared[key])
                break
        else:
            hint = suggest(key, known, lambda k: "--" + _dash(k))
            if not hint.startswith("did you"):
                hint = hint.replace("known: ", "known options: ", 1)
            raise UsageError(f"unknown option --{_dash(key)} for this model", hint=hint)
    return sorted_


def _dash(key: str) -> str:
    return key.replace("_", "-")
