"""Dataset loaders: a CSV (shipped toy data or the user's file) becomes a DataBundle.

Every loader reads the same options: ``data`` (a CSV path), ``target`` (or
its older name ``label_column``; default: the last column), ``delimiter``
(default: detected), ``val_fraction`` and ``standardize``. The split is
deterministic for a seed and stratified for 0/1 labels; standardization
statistics come from the training split only and travel in ``DataBundle.meta``
so that prediction applies the same transform.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch

from zoo.plugin import (
    MAX_FEATURES,
    DataBundle,
    DataError,
    DataRequest,
    TensorSplit,
    UsageError,
    median_row,
)
from zoo_tabular.csvfile import Cells, Table, as_table, read_cells
from zoo_tabular.plugin import DATA_OPTIONS
from zoo_tabular.predictrows import prediction_features as prediction_features
from zoo_tabular.predictrows import prediction_meta as prediction_meta
from zoo_tabular.predictrows import prediction_rows as prediction_rows
from zoo_tabular.splits import RowSplit, check_fraction
from zoo_tabular.splits import check_folds as check_folds
from zoo_tabular.splits import fold_indices as fold_indices
from zoo_tabular.splits import split_indices as split_indices

#: Where errors about another file's columns point.
OTHER_MODELS = (
    "for any other CSV use tabular.classifier (class labels: text or integers) or tabular.regressor "
    "(a numeric target): zoo train tabular.classifier --data FILE.csv --target COLUMN"
)
#: The notes' diabetes data (759 rows, 8 features scaled to [-1, 1], 0/1 label), shipped gzipped.
DIABETES_FILE = "diabetes.csv.gz"


def load_linear(request: DataRequest) -> DataBundle:
    """x = 1, 2, 3 with y = 2x, as in the notes, unless ``--data`` names another CSV."""
    return _load_toy(request, "linear", binary=False)


def load_affine(request: DataRequest) -> DataBundle:
    """x = 1, 2, 3 with y = 2x + 1."""
    return _load_toy(request, "affine", binary=False)


def load_logistic(request: DataRequest) -> DataBundle:
    """x = 1, 2, 3 with labels 0, 0, 1."""
    return _load_toy(request, "logistic", binary=True)


def load_diabetes(request: DataRequest) -> DataBundle:
    """The notes' diabetes.csv (8 features, 0/1 label): ``--data``, else the copy shipped gzipped."""
    path = _option(request, "data")
    if path:  # the user's file: the model's input layer is sized from its columns
        return load_csv(path, request, n_features=None, binary=True, model="tabular.diabetes")
    resource = resources.files("zoo_tabular") / "data" / DIABETES_FILE
    with resources.as_file(resource) as shipped:
        return load_csv(
            shipped,
            request,
            n_features=8,
            binary=True,
            model="tabular.diabetes",
            source=f"bundled {DIABETES_FILE}",
        )


def _load_toy(request: DataRequest, name: str, binary: bool) -> DataBundle:
    path = _option(request, "data")
    model = f"tabular.{name}"
    if path:
        return load_csv(path, request, n_features=1, binary=binary, model=model)
    resource = resources.files("zoo_tabular") / "data" / f"{name}.csv"
    with resources.as_file(resource) as shipped:
        # Three rows cannot spare a validation split: the trainer evaluates on train.
        return load_csv(
            shipped,
            request,
            n_features=1,
            binary=binary,
            model=model,
            split=False,
            source=f"built-in {name}.csv",
        )


def _option(request: DataRequest, key: str) -> Any:
    """The user's value, or the declared default when the option is missing."""
    value = request.options.get(key, DATA_OPTIONS[key])
    return value if value is not None else DATA_OPTIONS[key]


def load_csv(
    path: str | Path,
    request: DataRequest,
    n_features: int | None,
    binary: bool,
    model: str,
    split: bool = True,
    source: str | None = None,
) -> DataBundle:
    """Read, check, split and (optionally) standardize one CSV file.

    ``n_features`` None takes every column but the label as a feature and sizes the
    model's input from them (``in_features`` as data-derived config).
    """
    cells = read_cells(path, str(_option(request, "delimiter") or ""))
    label = label_index(cells, *_target(request))
    feature_cols = _feature_columns(cells, label, n_features, model)
    table = as_table(cells, hint=f"{model} reads numbers only; {OTHER_MODELS}")
    data = torch.tensor(table.rows, dtype=torch.float64)
    x = data[:, feature_cols].float()
    y = data[:, label : label + 1].float()
    if binary:
        check_binary(table, label)
    rows = _rows_split(request, y, binary, split, source or table.path, table.path)
    train_idx, val_idx = rows.train, rows.val
    stats = None
    example = median_row(x[train_idx])  # the row serve's form starts from
    if bool(_option(request, "standardize")):
        mean, std = standardizer(x[train_idx])
        x = (x - mean) / std
        stats = {"mean": mean.tolist(), "std": std.tolist()}
    names = cells.names()
    meta = {
        # the file's name only: a checkpoint must not carry this machine's folders
        "source": source or Path(table.path).name,
        "features": len(feature_cols),
        "feature_names": [names[i] for i in feature_cols],
        "label": names[label],
        "label_index": label,
        "columns": table.width,
        "binary": binary,
        "standardize": stats,
        "example": example,
        "split": rows.meta(request.seed, binary and split),
    }
    val = TensorSplit(x[val_idx], y[val_idx]) if len(val_idx) else None
    description = _description(source or table.path, len(y), len(feature_cols), rows, binary, stats)
    config = {"in_features": len(feature_cols)} if n_features is None else {}
    return DataBundle(
        train=TensorSplit(x[train_idx], y[train_idx]),
        val=val,
        meta=meta,
        description=description,
        config=config,
    )


def _feature_columns(cells: Cells, label: int, n_features: int | None, model: str) -> list[int]:
    """Every column but the label, as many as ``model`` takes (None: any number up to the cap)."""
    feature_cols = [i for i in range(cells.width) if i != label]
    if n_features is None and len(feature_cols) > MAX_FEATURES:
        raise DataError(
            f"has {len(feature_cols)} feature columns; at most {MAX_FEATURES} are read", cells.path
        )
    if n_features is not None and len(feature_cols) != n_features:
        raise DataError(
            f"has {len(feature_cols)} feature column(s) plus the label, but {model} takes {n_features}",
            cells.path,
            hint=f"{model} needs {n_features} numeric feature column(s) and one label column "
            f"(the last, or choose it with --target); {OTHER_MODELS}",
        )
    return feature_cols


def _rows_split(
    request: DataRequest, y: torch.Tensor, binary: bool, split: bool, where: str, path: str
) -> RowSplit:
    """The training and validation rows: a fold, a seeded split, or (``split`` False) every row."""
    fraction = check_fraction(float(_option(request, "val_fraction")))
    folds, fold = int(_option(request, "folds")), int(_option(request, "fold"))
    if folds > 1:
        check_folds(folds, fold, len(y), split, where=where)
        train_idx, val_idx = fold_indices(y[:, 0], folds, fold, request.seed, stratify=binary)
    elif split:
        train_idx, val_idx = split_indices(y[:, 0], fraction, request.seed, stratify=binary)
    else:
        train_idx, val_idx = torch.arange(len(y)), torch.arange(0)
    if len(train_idx) == 0:
        raise DataError(
            f"has only {len(y)} row(s): nothing is left to train on",
            path,
            hint="lower --val-fraction or add rows",
        )
    return RowSplit(train_idx, val_idx, fraction if split and folds <= 1 else 0.0, folds, fold)


def _description(
    where: str, rows: int, features: int, split: RowSplit, binary: bool, stats: dict[str, Any] | None
) -> str:
    """The line ``zoo train`` prints about the data: rows, features, split and scaling."""
    held_out = (
        f"{len(split.val)} validation rows"
        if len(split.val)
        else "no validation split (metrics on the training rows)"
    )
    stratified = "stratified" if binary and len(split.val) else ""
    fold_note = f"fold {split.fold + 1} of {split.folds}" if split.folds > 1 else ""
    notes = ", ".join(n for n in (stratified, fold_note) if n)
    return (
        f"{where}: {rows} rows, {features} feature(s); {len(split.train)} training rows, {held_out}"
        + (f" ({notes})" if notes else "")
        + ("; standardized" if stats else "")
    )


def _target(request: DataRequest) -> tuple[Any, str]:
    """``--target``, or ``--label-column`` (another name for it), with the flag that gave it."""
    target, alias = _option(request, "target"), _option(request, "label_column")
    if target not in ("", None) and alias not in ("", None) and str(target) != str(alias):
        raise UsageError(
            f"--target {target!r} and --label-column {alias!r} disagree",
            hint="--label-column is another name for --target: give one of them",
        )
    return (target, "--target") if target not in ("", None) else (alias, "--label-column")


def label_index(table: Table | Cells, wanted: Any, flag: str = "--target") -> int:
    """The label column: a header name or a 0-based index (negative counts from the end).

    ``flag`` is the option that chose it, as the errors name it.
    """
    width = table.width
    if width < 2:
        raise DataError("has a single column: a feature column and a label column are needed", table.path)
    if wanted is None or wanted == "":
        index = width - 1
    elif isinstance(wanted, int) or str(wanted).strip().lstrip("-").isdigit():
        index = int(wanted)
        if not -width <= index < width:
            raise UsageError(
                f"{flag} {wanted} is out of range: {table.path} has {width} columns",
                hint=f"use 0..{width - 1}, -1 for the last, or a header name",
            )
        index %= width
    elif table.header and str(wanted) in table.header:
        index = table.header.index(str(wanted))
    else:
        known = ", ".join(table.header) if table.header else "the file has no header row"
        raise UsageError(f"{flag} {wanted!r} is not a column of {table.path}", hint=f"columns: {known}")
    return index


def check_binary(table: Table, label: int) -> None:
    """Binary models need labels 0 or 1; point at the first row that has something else."""
    for row, line in zip(table.rows, table.lines):
        if row[label] not in (0.0, 1.0):
            raise DataError(
                f"label {row[label]:g} is not 0 or 1",
                table.path,
                line,
                label + 1,
                hint=f"binary models need a 0/1 label column (choose it with --target); {OTHER_MODELS}",
            )


def standardizer(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and standard deviation; constant features keep scale 1."""
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return mean, std
