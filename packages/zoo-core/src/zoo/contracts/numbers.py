"""Rows of numbers as predict reads them, and the training split's standardization as a checkpoint stores it.

Plain decimal text (``"1.5,2,3"``) or lists of finite numbers, each within float32; anything
else is a UsageError naming the value and its position, so a typo never becomes a wrong
answer. ``data_meta.standardize`` is read field by field: damage is a ValueError naming it.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch

from zoo.errors import UsageError

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: The largest magnitude a float32 holds; larger inputs would become inf inside the model.
FLOAT32_MAX = 3.4028234663852886e38


def standardization(meta: dict[str, Any], count: int) -> tuple[list[float], list[float]] | None:
    """``data_meta.standardize`` as (mean, std) of ``count`` features, None when absent.

    A damaged field (wrong length, a non-finite mean, a std that is not positive) is a
    ValueError naming it: zoo reports it against the checkpoint file.
    """
    stats = meta.get("standardize")
    if not stats:
        return None
    if not isinstance(stats, dict):
        raise ValueError(f"data_meta.standardize must be an object with mean and std, got {str(stats)[:60]}")
    return _numbers(stats.get("mean"), "mean", count, False), _numbers(stats.get("std"), "std", count, True)


def _numbers(value: Any, key: str, count: int, positive: bool) -> list[float]:
    ok = isinstance(value, list) and len(value) == count
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not ok or (positive and min(value, default=1) <= 0):
        kind = "positive finite numbers" if positive else "finite numbers"
        raise ValueError(f"data_meta.standardize.{key} must be a list of {count} {kind}, got {str(value)[:60]}")
    return [float(v) for v in value]


def number_row(raw: Any) -> list[float]:
    """A list or tuple of numbers as floats, each finite in float32; anything else is a UsageError."""
    ok = isinstance(raw, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= FLOAT32_MAX
        for v in raw
    )
    if not ok:
        raise UsageError(
            f"input {str(raw)[:60]!r} is not a row of numbers",
            hint="give text like '1.5,2,3' or a list of finite numbers",
        )
    return [float(v) for v in raw]


def median_row(x: torch.Tensor) -> list[float]:
    """Each column's median over the rows of ``x`` (raw, unstandardized features): a loader stores it as
    ``data_meta["example"]``, the row a form starts from."""
    values = x.float().median(dim=0).values.tolist() if x.dim() == 2 and len(x) else []
    return [float(f"{v:.7g}") for v in values]  # float32's digits: 120.3, not 120.30000305175781


def parse_numbers(text: str) -> list[float]:
    """``"1.5"`` or ``"1,2,3"`` as floats: plain decimal numbers only, each finite in float32.

    An empty field (``1,,2``), ``nan``, ``inf``, ``1e999`` or ``4_0`` would give a wrong
    answer rather than an error, so each is refused with its position.
    """
    values = []
    parts = text.split(",")
    for position, raw in enumerate(parts, start=1):
        part = raw.strip()
        where = f"value {position} of {len(parts)}" if len(parts) > 1 else "the value"
        if not _NUMBER.fullmatch(part):
            shown = repr(part) if part else "empty"
            raise UsageError(
                f"input {text!r}: {where} ({shown}) is not a plain decimal number",
                hint="give numbers like 4, -0.5 or 1e-3, separated by commas",
            )
        value = float(part)
        if abs(value) > FLOAT32_MAX:
            raise UsageError(f"input {text!r}: {where} ({part}) is too large for float32")
        values.append(value)
    return values
