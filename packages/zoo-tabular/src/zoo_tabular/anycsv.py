"""Datasets for any CSV: a target column (class labels or numbers) and numeric features.

``tabular.classifier`` and ``tabular.regressor`` read the user's file (``--data``): the
target is ``--target`` (a header name or a 0-based index; default the last column),
the features every other column, each of which must be numeric. Everything derived
from the data goes into the checkpoint: class names, feature names, the training
split's standardization (``data_meta``) and, for regression, the target's mean and
scale (model config, so the model answers in the target's units). Errors name the
file, line and column; every limit an error can hit is named in it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch

from zoo.data import DataBundle, DataRequest, TensorSplit
from zoo.errors import DataError, UsageError
from zoo_tabular.csvfile import Cells, is_number, read_cells, to_number
from zoo_tabular.datasets import (
    DIABETES_FILE,
    check_folds,
    fold_indices,
    label_index,
    split_indices,
    standardizer,
)
from zoo_tabular.plugin import ANY_CSV_OPTIONS as OPTIONS

#: Most classes a classifier's target may hold; more is almost always a numeric target.
MAX_CLASSES = 1_000
#: Cells read as a missing value (and refused with their place) rather than as text.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-nan"})


def load_classifier(request: DataRequest) -> DataBundle:
    """``--data FILE.csv`` (default: the bundled diabetes data) with class labels in ``--target``."""
    path = _option(request, "data")
    if path:
        return classes_bundle(read_cells(path, _option(request, "delimiter")), request)
    with resources.as_file(resources.files("zoo_tabular") / "data" / DIABETES_FILE) as shipped:
        return classes_bundle(read_cells(shipped), request, source=f"bundled {DIABETES_FILE}")


def load_regressor(request: DataRequest) -> DataBundle:
    """``--data FILE.csv`` with a numeric ``--target``; there is no default file."""
    path = _option(request, "data")
    if not path:
        raise UsageError(
            "tabular.regressor needs a CSV file: --data FILE.csv",
            hint="zoo train tabular.regressor --data FILE.csv --target COLUMN (default: the last column)",
        )
    return values_bundle(read_cells(path, _option(request, "delimiter")), request)


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


def _generated(x: list[list[float]], target: list[str]) -> Cells:
    width = len(x[0])
    header = [f"x{i + 1}" for i in range(width)] + ["y"]
    rows = [[f"{v:.6g}" for v in row] + [t] for row, t in zip(x, target, strict=True)]
    return Cells("generated", rows, list(range(2, len(rows) + 2)), header, ",")


def _option(request: DataRequest, key: str) -> Any:
    value = request.options.get(key, OPTIONS[key])
    return OPTIONS[key] if value is None else value


def classes_bundle(cells: Cells, request: DataRequest, source: str | None = None) -> DataBundle:
    """A classification bundle: class indices as targets, the class names in ``meta["classes"]``."""
    target = label_index(cells, _option(request, "target"), flag="--target")
    features = _features(cells, target)
    raw = [_target_cell(cells, row, line, target) for row, line in zip(cells.rows, cells.lines)]
    classes = _class_names(raw)
    name = cells.names()[target]
    if len(classes) == 1:
        raise DataError(
            f"target column {name!r} holds one value ({classes[0]!r}) in every row: "
            "there is nothing to tell apart",
            cells.path,
            hint="choose the column to predict with --target",
        )
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"target column {name!r} has {len(classes):,} distinct values, more than the {MAX_CLASSES:,} "
            "classes tabular.classifier takes",
            cells.path,
            hint="for a numeric target use tabular.regressor",
        )
    index = {c: i for i, c in enumerate(classes)}
    y = torch.tensor([index[_class_key(v)] for v in raw], dtype=torch.int64)
    counts = torch.bincount(y, minlength=len(classes))
    for i in (counts == 1).nonzero().flatten().tolist():
        line = cells.lines[int((y == i).nonzero()[0])]
        raise DataError(
            f"class {classes[i]!r} of {name!r} has a single row (line {line}): "
            "it cannot be both learnt and checked",
            cells.path,
            hint="add rows of that class or remove that row",
        )
    meta = {"classes": classes, "binary": False}
    return _bundle(cells, request, features, target, y, y, meta, "classes", source, num_classes=len(classes))


def values_bundle(cells: Cells, request: DataRequest, source: str | None = None) -> DataBundle:
    """A regression bundle: the numeric target as (N, 1) floats; its mean and scale go to the model."""
    target = label_index(cells, _option(request, "target"), flag="--target")
    features = _features(cells, target)
    name = cells.names()[target]
    values = []
    for row, line in zip(cells.rows, cells.lines):
        cell = _target_cell(cells, row, line, target)
        if not is_number(cell):
            raise DataError(
                f"{cell!r} in target column {name!r} is not a number",
                cells.path,
                line,
                target + 1,
                hint="tabular.regressor predicts numbers; for class labels use tabular.classifier",
            )
        values.append(to_number(cell, cells.path, line, target + 1, name))
    y = torch.tensor(values, dtype=torch.float64).reshape(-1, 1)
    if bool((y == y[0]).all()):
        raise DataError(
            f"target column {name!r} is {values[0]:g} in every row: there is nothing to fit",
            cells.path,
            hint="choose the column to predict with --target",
        )
    return _bundle(cells, request, features, target, y.float(), None, {"binary": False}, "values", source)


def _bundle(
    cells: Cells,
    request: DataRequest,
    features: list[int],
    target: int,
    y: torch.Tensor,
    strata: torch.Tensor | None,
    meta: dict[str, Any],
    kind: str,
    source: str | None,
    num_classes: int | None = None,
) -> DataBundle:
    """Split (stratified by class when ``strata``), standardize on the training rows, describe."""
    names = cells.names()
    x = torch.tensor(
        [
            [to_number(row[i], cells.path, line, i + 1, names[i]) for i in features]
            for row, line in zip(cells.rows, cells.lines)
        ],
        dtype=torch.float32,
    )
    fraction = float(_option(request, "val_fraction"))
    if not 0.0 <= fraction < 1.0:
        raise UsageError(f"--val-fraction must be at least 0 and below 1, got {fraction}")
    folds, fold = int(_option(request, "folds")), int(_option(request, "fold"))
    where = source or cells.path
    labels = (strata if strata is not None else torch.zeros(len(y))).float()
    if folds > 1:
        check_folds(folds, fold, len(y), True, where=where)
        train_idx, val_idx = fold_indices(labels, folds, fold, request.seed, stratify=strata is not None)
    else:
        train_idx, val_idx = split_indices(labels, fraction, request.seed, stratify=strata is not None)
    if len(train_idx) == 0 or (fraction > 0 and len(val_idx) == 0):
        raise DataError(
            f"has {len(y)} row(s): too few for a training and a validation split",
            cells.path,
            hint="add rows, or train on every row with --val-fraction 0",
        )
    config: dict[str, Any] = {"in_features": len(features)}
    stats = None
    if bool(_option(request, "standardize")):
        mean, std = standardizer(x[train_idx])
        x = (x - mean) / std
        stats = {"mean": mean.tolist(), "std": std.tolist()}
    if num_classes is not None:
        config["num_classes"] = num_classes
    else:
        # The builder scales the model's output with these; data_meta records them for an
        # export, which leaves the scaling to its consumer (see RegressorAdapter.export_module).
        config["target_mean"], config["target_std"] = _target_scale(y[train_idx])
        meta["target_scale"] = {"mean": config["target_mean"], "std": config["target_std"]}
    split_meta: dict[str, Any] = {
        "train": len(train_idx),
        "val": len(val_idx),
        "val_fraction": fraction if folds <= 1 else 0.0,
        "seed": request.seed,
        "stratified": strata is not None,
    }
    if folds > 1:
        split_meta.update(fold=fold, folds=folds, val_rows=val_idx.tolist())
    meta = {
        "source": source or Path(cells.path).name,
        "features": len(features),
        "feature_names": [names[i] for i in features],
        "label": names[target],
        "label_index": target,
        "columns": cells.width,
        **meta,
        "standardize": stats,
        "split": split_meta,
    }
    what = f"{num_classes} classes" if num_classes is not None else f"numeric target {names[target]!r}"
    notes = ", ".join(
        n
        for n in (
            "stratified" if strata is not None else "",
            f"fold {fold + 1} of {folds}" if folds > 1 else "",
        )
        if n
    )
    description = (
        f"{where}: {len(y)} rows, {len(features)} feature(s), {what}; {len(train_idx)} training rows, "
        + (
            f"{len(val_idx)} validation rows"
            if len(val_idx)
            else "no validation split (metrics on the training rows)"
        )
        + (f" ({notes})" if notes else "")
        + ("; standardized" if stats else "")
    )
    return DataBundle(
        train=TensorSplit(x[train_idx], y[train_idx]),
        val=TensorSplit(x[val_idx], y[val_idx]) if len(val_idx) else None,
        meta=meta,
        config=config,
        num_classes=num_classes,
        description=description,
    )


def _features(cells: Cells, target: int) -> list[int]:
    """Every column but the target; a column holding text is refused by name (one error for all of them)."""
    names = cells.names()
    columns = [i for i in range(cells.width) if i != target]
    text: list[str] = []
    first: tuple[int, int, str] | None = None
    for i in columns:
        for row, line in zip(cells.rows, cells.lines):
            cell = row[i]
            if cell.lower() not in MISSING and not is_number(cell):
                text.append(repr(names[i]))
                first = first or (line, i + 1, cell)
                break
    if first is not None:
        line, column, cell = first
        raise DataError(
            f"feature column(s) {', '.join(text)} hold text ({cell!r} here): the features must be numbers",
            cells.path,
            line,
            column,
            hint="drop those columns or encode them as numbers (one 0/1 column per category), "
            "or choose another target with --target",
        )
    for i in columns:
        for row, line in zip(cells.rows, cells.lines):
            if row[i].lower() in MISSING:
                shown = "empty" if not row[i] else repr(row[i])
                raise DataError(
                    f"missing value ({shown}) in column {names[i]!r}",
                    cells.path,
                    line,
                    i + 1,
                    hint="fill or remove the rows with missing values",
                )
    return columns


def _target_cell(cells: Cells, row: list[str], line: int, target: int) -> str:
    cell = row[target]
    if cell.lower() in MISSING:
        shown = "empty" if not cell else repr(cell)
        raise DataError(
            f"missing target value ({shown}) in column {cells.names()[target]!r}",
            cells.path,
            line,
            target + 1,
            hint="fill or remove the rows without a target",
        )
    return cell


def _class_key(cell: str) -> str:
    """A label's class name: numbers by value (``1`` and ``1.0`` are one class), text as written."""
    return f"{float(cell):g}" if is_number(cell) else cell


def _class_names(raw: list[str]) -> list[str]:
    """Sorted class names: numerically when every label is a number, else as text."""
    keys = {_class_key(v) for v in raw}
    if all(is_number(k) for k in keys):
        return sorted(keys, key=float)
    return sorted(keys)


def _target_scale(y: torch.Tensor) -> tuple[float, float]:
    """The training target's mean and standard deviation (1 when constant there)."""
    mean = float(y.double().mean())
    std = float(y.double().std(unbiased=False))
    return mean, std if std > 0 else 1.0
