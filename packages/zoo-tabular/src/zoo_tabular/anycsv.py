"""Datasets for any CSV: a target column (class labels or numbers) and columns as they come.

``tabular.classifier`` and ``tabular.regressor`` read the user's file (``--data``): the
target is ``--target`` (a header name or a 0-based index; default the last column), and
every other column is a feature by its content: numbers, categories (text, or numbers
named by ``--categorical``), or left out (``--ignore``, an ID, constant, all missing).
``zoo_tabular.encoding`` decides each column on the training rows; the decisions go into
the checkpoint (``data_meta["table"]`` and the model's ``table`` config), so predict,
serve and export take raw rows. Errors name the file, line and column; every limit an
error can hit is named in it.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import torch

from zoo.plugin import (
    DataBundle,
    DataError,
    DataRequest,
    NeedsDataError,
    UsageError,
    check_labels,
)
from zoo_tabular.anybundle import ENCODINGS as ENCODINGS
from zoo_tabular.anybundle import Target, make_bundle, option
from zoo_tabular.columns import ColumnTable, as_tensor, number_key, read_columns, table_of
from zoo_tabular.datasets import DIABETES_FILE

#: Most classes a classifier's target may hold; more is almost always a numeric target.
MAX_CLASSES = 1_000
#: Regression targets beyond this magnitude would overflow a float32 squared error.
SAFE_TARGET = 1e15


def load_classifier(request: DataRequest) -> DataBundle:
    """``--data FILE.csv`` (default: the bundled diabetes data) with class labels in ``--target``."""
    path = option(request, "data")
    if path:
        return classes_bundle(_read(path, request), request)
    with resources.as_file(resources.files("zoo_tabular") / "data" / DIABETES_FILE) as shipped:
        return classes_bundle(_read(shipped, request), request, source=f"bundled {DIABETES_FILE}")


def load_regressor(request: DataRequest) -> DataBundle:
    """``--data FILE.csv`` with a numeric ``--target``; there is no default file."""
    path = option(request, "data")
    if not path:
        raise NeedsDataError(
            "tabular.regressor needs a CSV file: --data FILE.csv",
            hint="zoo train tabular.regressor --data FILE.csv --target COLUMN (default: the last column)",
        )
    return values_bundle(_read(path, request), request)


def _read(path: str | Path, request: DataRequest) -> ColumnTable:
    most = int(option(request, "max_categories"))
    if most < 2:
        raise UsageError(f"--max-categories must be at least 2, got {most}")
    na = [v.strip() for v in str(option(request, "na_values")).split(",") if v.strip()]
    return read_columns(path, str(option(request, "delimiter")), na, max(most, MAX_CLASSES))


def sample_classifier(request: DataRequest) -> DataBundle:
    """Three classes of 30 seeded points in 4 dimensions, for ``zoo check`` (no file)."""
    g = torch.Generator().manual_seed(7)
    labels = ["a", "b", "c"] * 30
    centers = {"a": 0.0, "b": 2.0, "c": -2.0}
    x = [[centers[c] + float(v) for v in torch.randn(4, generator=g)] for c in labels]
    return classes_bundle(_generated(x, labels), request, source="generated sample")


def sample_regressor(request: DataRequest) -> DataBundle:
    """60 seeded points of y = 3 x1 - 2 x2 + 0.5 x3 + 10 with noise, for ``zoo check`` (no file)."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(60, 3, generator=g)
    y = x @ torch.tensor([3.0, -2.0, 0.5]) + 10 + 0.1 * torch.randn(60, generator=g)
    return values_bundle(
        _generated(x.tolist(), [f"{v:.6g}" for v in y.tolist()]), request, source="generated sample"
    )


def _generated(x: list[list[float]], target: list[str]) -> ColumnTable:
    width = len(x[0])
    header = [f"x{i + 1}" for i in range(width)] + ["y"]
    rows = [[f"{v:.6g}" for v in row] + [t] for row, t in zip(x, target, strict=True)]
    return table_of("generated", header, rows)


def target_index(table: ColumnTable, request: DataRequest) -> int:
    """``--target`` (or its alias ``--label-column``): a header name or a 0-based index."""
    wanted, alias = option(request, "target"), option(request, "label_column")
    if alias not in ("", None) and wanted not in ("", None) and str(alias) != str(wanted):
        raise UsageError(
            f"--target {wanted!r} and --label-column {alias!r} disagree",
            hint="--label-column is another name for --target: give one of them",
        )
    wanted = wanted if wanted not in ("", None) else alias
    width = table.width
    if width < 2:
        raise DataError("has a single column: a feature column and a target column are needed", table.path)
    if wanted in ("", None):
        return width - 1
    text = str(wanted).strip()
    if table.header and text in table.names:
        return table.names.index(text)
    if text.lstrip("-").isdigit():
        index = int(text)
        if not -width <= index < width:
            raise UsageError(
                f"--target {wanted} is out of range: {table.path} has {width} columns",
                hint=f"use 0..{width - 1}, -1 for the last, or a header name",
            )
        return index % width
    known = ", ".join(table.names) if table.header else "the file has no header row"
    raise UsageError(f"--target {wanted!r} is not a column of {table.path}", hint=f"columns: {known[:400]}")


def _missing_target(table: ColumnTable, target: int, rows: list[int]) -> None:
    if rows:
        line = table.lines[rows[0]]
        raise DataError(
            f"missing target value in column {table.names[target]!r} ({len(rows)} row(s))",
            table.path,
            line,
            target + 1,
            hint="fill or remove the rows without a target",
        )


def classes_bundle(table: ColumnTable, request: DataRequest, source: str | None = None) -> DataBundle:
    """A classification bundle: class indices as targets, the class names in ``meta["classes"]``."""
    target = target_index(table, request)
    name = table.names[target]
    raw_keys, y_raw = _class_keys(table, target)
    known = (request.meta or {}).get("classes") if "table" in (request.meta or {}) else None
    classes = _class_names(raw_keys) if known is None else [str(c) for c in known]
    check_labels(classes, f"target column {name!r}", table.path)
    unknown = sorted(set(raw_keys) - set(classes))
    if unknown:
        raise DataError(
            f"target column {name!r} holds {', '.join(map(repr, unknown[:5]))}, not a class the model knows",
            table.path,
            hint="the model's classes: " + ", ".join(classes)[:300],
        )
    meta = {"classes": classes, "binary": False}
    y = torch.tensor([classes.index(k) for k in raw_keys], dtype=torch.int64)[y_raw]
    if known is not None:  # data read again for a checkpoint: its classes, in its order
        return make_bundle(table, request, Target(target, y, None, len(classes)), meta, source)
    _check_classes(table, name, classes, y)
    return make_bundle(table, request, Target(target, y, y, len(classes)), meta, source)


def _class_keys(table: ColumnTable, target: int) -> tuple[list[str], torch.Tensor]:
    """The target's distinct values as class keys, and each row's index into them."""
    column = table.columns[target]
    if column.hashed:
        raise DataError(
            f"target column {table.names[target]!r} has more than {MAX_CLASSES:,} distinct values, more than "
            f"the {MAX_CLASSES:,} classes tabular.classifier takes",
            table.path,
            hint="for a numeric target use tabular.regressor",
        )
    if column.numbers is not None:
        values = as_tensor(column.numbers)
        _missing_target(table, target, values.isnan().nonzero().flatten().tolist())
        distinct = values.unique()
        return [number_key(float(v)) for v in distinct], torch.searchsorted(distinct, values)
    codes = as_tensor(column.codes).long()
    _missing_target(table, target, (codes < 0).nonzero().flatten().tolist())
    return list(column.vocab), codes


def _check_classes(table: ColumnTable, name: str, classes: list[str], y: torch.Tensor) -> None:
    """Classes a new classifier can learn: two or more, not too many, each with two rows or more."""
    if len(classes) == 1:
        raise DataError(
            f"target column {name!r} holds one value ({classes[0]!r}) in every row: "
            "there is nothing to tell apart",
            table.path,
            hint="choose the column to predict with --target",
        )
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"target column {name!r} has {len(classes):,} distinct values, more than the {MAX_CLASSES:,} "
            "classes tabular.classifier takes",
            table.path,
            hint="for a numeric target use tabular.regressor",
        )
    counts = torch.bincount(y, minlength=len(classes))
    for i in (counts == 1).nonzero().flatten().tolist():
        line = table.lines[int((y == i).nonzero()[0])]
        raise DataError(
            f"class {classes[i]!r} of {name!r} has a single row (line {line}): "
            "it cannot be both learnt and checked",
            table.path,
            hint="add rows of that class or remove that row",
        )


def values_bundle(table: ColumnTable, request: DataRequest, source: str | None = None) -> DataBundle:
    """A regression bundle: the numeric target as (N, 1) floats; its mean and scale go to the model."""
    target = target_index(table, request)
    column = table.columns[target]
    name = table.names[target]
    if column.numbers is None:
        line, cell = column.first_text or (table.lines[0], "")
        raise DataError(
            f"{cell!r} in target column {name!r} is not a number",
            table.path,
            line,
            target + 1,
            hint="tabular.regressor predicts numbers; for class labels use tabular.classifier",
        )
    values = as_tensor(column.numbers)
    _missing_target(table, target, values.isnan().nonzero().flatten().tolist())
    if not column.largest <= SAFE_TARGET:
        raise DataError(
            f"target column {name!r} holds {column.largest:.4g}, beyond the {SAFE_TARGET:.0e} whose squared "
            "error 32-bit training can hold",
            table.path,
            column.largest_line,
            target + 1,
            hint="rescale the target (e.g. predict thousands instead of units)",
        )
    if bool((values == values[0]).all()):
        raise DataError(
            f"target column {name!r} is {values[0].item():g} in every row: there is nothing to fit",
            table.path,
            hint="choose the column to predict with --target",
        )
    y = values.float().reshape(-1, 1)
    return make_bundle(table, request, Target(target, y, None), {"binary": False}, source)


def _class_names(keys: list[str]) -> list[str]:
    """Sorted class names: numerically when every label is a number, else as text."""
    if all(_is_number(k) for k in keys):
        return sorted(keys, key=float)
    return sorted(keys)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
