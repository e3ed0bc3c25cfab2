"""Strict JSON: one reading of a document, or one error naming what is wrong with it.

No NaN or Infinity, no integer longer than ``MAX_INT_DIGITS`` digits (whatever the
interpreter's own limit), no nesting deeper than ``MAX_JSON_DEPTH``, no lone surrogates
in strings, and no object that repeats a key (which value was meant is ambiguous, so
neither is taken). ``zoo.files.readfile.read_json`` reads a bounded file through it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.errors import DataError

#: How deeply a JSON document may nest; deeper is damage or an attack, never a real config.
MAX_JSON_DEPTH = 64
#: The longest integer JSON may hold: Python's default conversion limit, fixed here so that
#: PYTHONINTMAXSTRDIGITS=0 cannot turn a long number into minutes of quadratic parsing.
MAX_INT_DIGITS = 4300


class _Refused(ValueError):
    """A document that is valid JSON but not usable (as opposed to a syntax error)."""


def _check_tree(value: Any) -> str:
    """Why ``value`` is unusable ('' when it is fine): too deep, or a string that is not Unicode.

    Iterative, so that no nesting can exhaust the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "it holds a string that is not valid Unicode (a lone surrogate escape such as \\ud800)"
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return f"nested more than {MAX_JSON_DEPTH} levels deep"
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return ""


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is too large")
    return value


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits is longer than the {MAX_INT_DIGITS}-digit limit")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"the key {key[:60]!r} appears twice in one object")
        result[key] = value
    return result


def parse_json(text: str, path: str | Path, what: str) -> Any:
    """Strict JSON (see the module docstring) as a value, or one DataError naming the problem."""
    try:
        value = json.loads(
            text,
            parse_constant=_no_constant,
            parse_float=_finite,
            parse_int=_integer,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise DataError(f"is not usable as {what}: nested more than {MAX_JSON_DEPTH} levels deep", path) from None
    except _Refused as exc:
        raise DataError(f"is not usable as {what}: {exc}", path) from None
    except ValueError as exc:  # json.JSONDecodeError, with its line and column
        raise DataError(f"is not valid JSON ({exc})", path, hint=f"give {what}") from None
    problem = _check_tree(value)
    if problem:
        raise DataError(f"is not usable as {what}: {problem}", path)
    return value
