"""Strict JSON everywhere zoo writes it: non-finite numbers become null, in this one place.

Python's ``json`` writes ``NaN`` and ``Infinity``, which no strict JSON reader accepts;
a prediction that overflows or a crafted checkpoint's metrics would then break the
program reading zoo's output. Here such values become ``null``: ``--json`` output says
how many on stderr, run-folder files store them as null (``nulled``), and ``zoo serve``
flags each answer that lost one (``flag_nonfinite``). No torch.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def finite(value: Any) -> tuple[Any, int]:
    """``value`` with every non-finite float replaced by None, and how many were replaced.

    Iterative, so a deeply nested value cannot exhaust the recursion limit.
    """
    count = 0

    def clean(item: Any) -> Any:
        nonlocal count
        if isinstance(item, float) and not math.isfinite(item):
            count += 1
            return None
        return item

    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        holder, key = stack.pop()
        item = holder[key]
        if isinstance(item, dict):
            copy: dict[Any, Any] = dict(item)
            holder[key] = copy
            stack.extend((copy, k) for k in copy)
        elif isinstance(item, (list, tuple)):
            items = list(item)
            holder[key] = items
            stack.extend((items, i) for i in range(len(items)))
        else:
            holder[key] = clean(item)
    return root[0], count


def nulled(value: Any) -> Any:
    """``value`` with every non-finite float as None: what strict JSON can hold of it."""
    return finite(value)[0]


def flag_nonfinite(records: list[Any]) -> list[Any]:
    """Each record JSON-safe; a dict that lost a value to null is marked ``"nonfinite": true``."""
    out = []
    for record in records:
        clean, found = finite(record)
        if found and isinstance(clean, dict):
            clean["nonfinite"] = True
        out.append(clean)
    return out


def dumps(data: Any) -> tuple[str, int]:
    """Strict JSON text of ``data`` (indented) and the number of non-finite values written as null."""
    clean, count = finite(data)
    return json.dumps(clean, indent=2, default=str, allow_nan=False), count


def print_json(data: Any) -> None:
    """Write ``data`` as strict JSON on stdout; a warning on stderr when values became null."""
    text, count = dumps(data)
    sys.stdout.write(text + "\n")
    if count:
        sys.stderr.write(
            f"warning: {count} value(s) were not finite numbers (NaN or infinity) and are written as null\n"
        )
