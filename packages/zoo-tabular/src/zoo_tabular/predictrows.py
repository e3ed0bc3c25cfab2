"""Rows to predict for the numeric-CSV models, read and checked against the checkpoint.

The checkpoint's metadata says how many features the model takes, how wide the training
file was and which column held the label, so a row may be given with or without it;
the training split's standardization is applied on the way in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo.plugin import MAX_FEATURES, UsageError, standardization
from zoo_tabular.csvfile import read_cells, to_number


def prediction_features(rows: list[list[float]], meta: dict[str, Any], where: list[str]) -> torch.Tensor:
    """Inputs for the model from raw rows, with the training split's standardization.

    A row may hold just the features, or every column of the training CSV (the label
    is then dropped). ``where`` names each row for errors (an input or a file line).
    """
    n, columns, label, stats = prediction_meta(meta, len(rows[0]) if rows else 0)
    picked = []
    for row, place in zip(rows, where):
        if len(row) == n:
            picked.append(row)
        elif len(row) == columns:
            picked.append([v for i, v in enumerate(row) if i != label])
        else:
            raise UsageError(
                f"{place} has {len(row)} value(s) but the model takes {n} feature(s)",
                hint=f"give {n} comma-separated numbers per input (or {columns} with the label)",
            )
    x = torch.tensor(picked, dtype=torch.float32).reshape(len(picked), n)
    if stats:
        x = (x - torch.tensor(stats[0])) / torch.tensor(stats[1])
    return x


def prediction_rows(path: str | Path, meta: dict[str, Any]) -> tuple[str, list[int], list[list[float]]]:
    """The rows of a CSV to predict: (path, line numbers, numbers per row).

    A row as wide as the training file keeps its label cell, which may be text (a class
    name) and is dropped by :func:`prediction_features`; every other cell must be a number.
    """
    cells = read_cells(path)
    _, columns, label, _ = prediction_meta(meta, cells.width)
    names = cells.names()
    rows = []
    for row, line in zip(cells.rows, cells.lines):
        rows.append(
            [
                0.0
                if len(row) == columns and col == label
                else to_number(cell, cells.path, line, col + 1, names[col])
                for col, cell in enumerate(row)
            ]
        )
    return cells.path, cells.lines, rows


def _whole(meta: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = meta.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(
            f"data_meta.{key} must be a whole number from {low} to {high}, got {str(value)[:40]}"
        )
    return value


def prediction_meta(
    meta: dict[str, Any], given: int
) -> tuple[int, int, int, tuple[list[float], list[float]] | None]:
    """Features, columns, label column and standardization from a checkpoint's metadata, checked.

    ``given`` (the first row's length) stands in for a missing feature count. A damaged
    field is a ValueError naming it: zoo reports it against the checkpoint file.
    """
    n = _whole(meta, "features", given, 1, MAX_FEATURES)
    columns = _whole(meta, "columns", n + 1, n, n + 1)
    label = _whole(meta, "label_index", columns - 1, 0, columns - 1)
    return n, columns, label, standardization(meta, n)
