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

from zoo.contracts.adapter import median_row, standardization
from zoo.contracts.data import DataBundle, DataRequest, TensorSplit
from zoo.contracts.metadata import MAX_FEATURES
from zoo.errors import DataError, UsageError
from zoo_tabular.csvfile import Cells, Table, as_table, read_cells, to_number
from zoo_tabular.plugin import DATA_OPTIONS

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
    names = cells.names()
    feature_cols = [i for i in range(cells.width) if i != label]
    sized = n_features is None
    if n_features is None:
        n_features = len(feature_cols)
        if n_features > MAX_FEATURES:
            raise DataError(f"has {n_features} feature columns; at most {MAX_FEATURES} are read", cells.path)
    if len(feature_cols) != n_features:
        raise DataError(
            f"has {len(feature_cols)} feature column(s) plus the label, but {model} takes {n_features}",
            cells.path,
            hint=f"{model} needs {n_features} numeric feature column(s) and one label column "
            f"(the last, or choose it with --target); {OTHER_MODELS}",
        )
    table = as_table(cells, hint=f"{model} reads numbers only; {OTHER_MODELS}")
    data = torch.tensor(table.rows, dtype=torch.float64)
    x = data[:, feature_cols].float()
    y = data[:, label : label + 1].float()
    if binary:
        check_binary(table, label)

    fraction = float(_option(request, "val_fraction"))
    if not 0.0 <= fraction < 1.0:
        raise UsageError(f"--val-fraction must be at least 0 and below 1, got {fraction}")
    folds, fold = int(_option(request, "folds")), int(_option(request, "fold"))
    if folds > 1:
        check_folds(folds, fold, len(y), split, where=source or table.path)
        train_idx, val_idx = fold_indices(y[:, 0], folds, fold, request.seed, stratify=binary)
    elif split:
        train_idx, val_idx = split_indices(y[:, 0], fraction, request.seed, stratify=binary)
    else:
        train_idx, val_idx = torch.arange(len(y)), torch.arange(0)
    if len(train_idx) == 0:
        raise DataError(
            f"has only {len(y)} row(s): nothing is left to train on",
            table.path,
            hint="lower --val-fraction or add rows",
        )

    stats = None
    example = median_row(x[train_idx])  # the row serve's form starts from
    if bool(_option(request, "standardize")):
        mean, std = standardizer(x[train_idx])
        x = (x - mean) / std
        stats = {"mean": mean.tolist(), "std": std.tolist()}

    train = TensorSplit(x[train_idx], y[train_idx])
    val = TensorSplit(x[val_idx], y[val_idx]) if len(val_idx) else None
    where = source or table.path
    split_meta: dict[str, Any] = {
        "train": len(train_idx),
        "val": len(val_idx),
        "val_fraction": fraction if split and folds <= 1 else 0.0,
        "seed": request.seed,
        "stratified": binary and split,
    }
    if folds > 1:
        split_meta.update(fold=fold, folds=folds, val_rows=val_idx.tolist())
    meta = {
        # the file's name only: a checkpoint must not carry this machine's folders
        "source": source or Path(table.path).name,
        "features": n_features,
        "feature_names": [names[i] for i in feature_cols],
        "label": names[label],
        "label_index": label,
        "columns": table.width,
        "binary": binary,
        "standardize": stats,
        "example": example,
        "split": split_meta,
    }
    held_out = (
        f"{len(val_idx)} validation rows"
        if val is not None
        else "no validation split (metrics on the training rows)"
    )
    stratified = "stratified" if binary and val is not None else ""
    fold_note = f"fold {fold + 1} of {folds}" if folds > 1 else ""
    notes = ", ".join(n for n in (stratified, fold_note) if n)
    description = (
        f"{where}: {len(y)} rows, {n_features} feature(s); {len(train_idx)} training rows, {held_out}"
        + (f" ({notes})" if notes else "")
        + ("; standardized" if stats else "")
    )
    config = {"in_features": n_features} if sized else {}
    return DataBundle(train=train, val=val, meta=meta, description=description, config=config)


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


def split_indices(
    labels: torch.Tensor, fraction: float, seed: int, stratify: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic train/validation indices; per-class shuffles keep 0/1 proportions."""
    generator = torch.Generator().manual_seed(int(seed))
    groups = (
        [torch.nonzero(labels == v).flatten() for v in labels.unique()]
        if stratify
        else [torch.arange(len(labels))]
    )
    train, val = [], []
    for group in groups:
        shuffled = group[torch.randperm(len(group), generator=generator)]
        k = round(len(group) * fraction)
        val.append(shuffled[:k])
        train.append(shuffled[k:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def check_folds(folds: int, fold: int, rows: int, split: bool, where: str) -> None:
    """Usable cross-validation options, or a UsageError saying what to change."""
    if not split:
        raise UsageError(
            f"{where} has {rows} rows and is never split, so it cannot be cut into {folds} folds",
            hint="cross-validate on your own data with --data FILE",
        )
    if folds > rows:
        raise UsageError(f"cannot cut {rows} rows into {folds} folds", hint=f"use at most {rows} folds")
    if not 0 <= fold < folds:
        raise UsageError(f"--fold {fold} is out of range for {folds} folds", hint=f"use 0..{folds - 1}")


def fold_indices(
    labels: torch.Tensor, folds: int, fold: int, seed: int, stratify: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and validation rows of cross-validation fold ``fold`` of ``folds``.

    Each class (or, unstratified, all rows) is shuffled by a generator seeded with
    ``seed`` and dealt round-robin into the folds, class after class, so every fold
    holds each class in the same proportion and fold sizes differ by at most one. For
    one seed the folds are disjoint and together cover every row once.
    """
    generator = torch.Generator().manual_seed(int(seed))
    groups = (
        [torch.nonzero(labels == v).flatten() for v in labels.unique()]
        if stratify
        else [torch.arange(len(labels))]
    )
    order = torch.cat([group[torch.randperm(len(group), generator=generator)] for group in groups])
    assigned = torch.empty(len(labels), dtype=torch.long)
    assigned[order] = torch.arange(len(order)) % folds
    val = torch.nonzero(assigned == fold).flatten()
    train = torch.nonzero(assigned != fold).flatten()
    return train, val


def standardizer(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and standard deviation; constant features keep scale 1."""
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return mean, std


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
