"""An any-CSV data set put together: rows split, columns decided on the training rows, described.

``zoo_tabular.anycsv`` reads the file and the target; this module turns them into the
:class:`DataBundle` the trainer takes: the split (stratified by class for a classifier),
the encodings (decided afresh, or a checkpoint's own when its data is read again), the
model's data-derived config, ``data_meta`` and the line ``zoo train`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.plugin import DataBundle, DataError, DataRequest, TensorSplit, UsageError
from zoo_tabular.balance import imbalance
from zoo_tabular.columns import ColumnTable
from zoo_tabular.encoding import TablePlan, encode_table, plan_table
from zoo_tabular.plugin import ANY_CSV_OPTIONS as OPTIONS
from zoo_tabular.splits import RowSplit, check_folds, check_fraction, fold_indices, split_indices

ENCODINGS = ("embedding", "onehot")


@dataclass(frozen=True)
class Target:
    """What the model learns: the target column, its values and how they are read."""

    index: int
    y: torch.Tensor
    #: Class indices to stratify the split by (None: an unstratified split).
    strata: torch.Tensor | None
    #: Class count for a classifier, None for a regressor.
    num_classes: int | None = None


def option(request: DataRequest, key: str) -> Any:
    """The user's value of an any-CSV data option, or its declared default."""
    value = request.options.get(key, OPTIONS[key])
    return OPTIONS[key] if value is None else value


def make_bundle(
    table: ColumnTable, request: DataRequest, target: Target, meta: dict[str, Any], source: str | None
) -> DataBundle:
    """Split (stratified when ``target.strata``), decide the columns on the training rows, describe."""
    where = source or table.path
    rows = _split(table, request, target, where)
    encoding = str(option(request, "encoding"))
    if encoding not in ENCODINGS:
        raise UsageError(f"unknown --encoding {encoding!r}", hint="choose embedding or onehot")
    plan, x = _columns(table, request, target.index, rows.train)
    config: dict[str, Any] = {"in_features": len(plan.features), "table": plan.model_config(encoding)}
    fit_idx, note = _fit_config(request, target, rows.train, config, meta)
    meta = {
        "source": source or Path(table.path).name,
        "features": len(plan.features),
        "feature_names": plan.features,
        "label": table.names[target.index],
        "label_index": target.index,
        "columns": table.width,
        **meta,
        "table": plan.to_meta(),
        "split": rows.meta(request.seed, target.strata is not None),
    }
    y = target.y
    return DataBundle(
        train=TensorSplit(x[fit_idx], y[fit_idx]),
        val=TensorSplit(x[rows.val], y[rows.val]) if len(rows.val) else None,
        meta=meta,
        config=config,
        num_classes=target.num_classes,
        description=_description(table, where, target, rows, plan, note),
    )


def _split(table: ColumnTable, request: DataRequest, target: Target, where: str) -> RowSplit:
    fraction = check_fraction(float(option(request, "val_fraction")))
    folds, fold = int(option(request, "folds")), int(option(request, "fold"))
    y, strata = target.y, target.strata
    labels = (strata if strata is not None else torch.zeros(len(y))).float()
    if folds > 1:
        check_folds(folds, fold, len(y), True, where=where)
        train_idx, val_idx = fold_indices(labels, folds, fold, request.seed, stratify=strata is not None)
    else:
        train_idx, val_idx = split_indices(labels, fraction, request.seed, stratify=strata is not None)
    if len(train_idx) == 0 or (fraction > 0 and len(val_idx) == 0):
        raise DataError(
            f"has {len(y)} row(s): too few for a training and a validation split",
            table.path,
            hint="add rows, or train on every row with --val-fraction 0",
        )
    return RowSplit(train_idx, val_idx, fraction if folds <= 1 else 0.0, folds, fold)


def _columns(
    table: ColumnTable, request: DataRequest, target: int, train_idx: torch.Tensor
) -> tuple[TablePlan, torch.Tensor]:
    """The columns' encodings and the encoded features: a checkpoint's own, else decided on ``train_idx``."""
    saved = (request.meta or {}).get("table")
    if saved is not None:  # data read again for a checkpoint: its own encodings
        plan = TablePlan.from_meta(saved)
        x = encode_table(plan, table)
    else:
        plan, x = plan_table(table, target, train_idx, request.options)
    if not bool(option(request, "standardize")):
        plan.mean, plan.std = [0.0] * len(plan.numeric), [1.0] * len(plan.numeric)
    return plan, x


def _fit_config(
    request: DataRequest,
    target: Target,
    train_idx: torch.Tensor,
    config: dict[str, Any],
    meta: dict[str, Any],
) -> tuple[torch.Tensor, str]:
    """Adds the target's part of the model config; the rows to fit on and a note on balancing."""
    num_classes = target.num_classes
    if num_classes is not None and (request.meta or {}).get("table") is not None:
        config["num_classes"] = num_classes
    elif num_classes is not None:
        config["num_classes"] = num_classes
        config["class_weight"], fit_idx, note = imbalance(request, target.y, train_idx, num_classes)
        return fit_idx, note
    else:
        # The builder scales the model's output with these; data_meta records them for an
        # export, which leaves the scaling to its consumer (see RegressorAdapter.export_module).
        config["target_mean"], config["target_std"] = _target_scale(target.y[train_idx])
        meta["target_scale"] = {"mean": config["target_mean"], "std": config["target_std"]}
    return train_idx, ""


def _description(
    table: ColumnTable, where: str, target: Target, rows: RowSplit, plan: TablePlan, note: str
) -> str:
    """The lines ``zoo train`` prints about the data: rows, features, target, split and each column."""
    notes = [
        "stratified" if target.strata is not None else "",
        f"fold {rows.fold + 1} of {rows.folds}" if rows.folds > 1 else "",
        note,
    ]
    what = (
        f"{target.num_classes} classes"
        if target.num_classes is not None
        else f"numeric target {table.names[target.index]!r}"
    )
    shown = ", ".join(n for n in notes if n)
    return (
        f"{where}: {table.rows} rows, {len(plan.features)} feature(s), {what}; "
        f"{len(rows.train)} training rows, "
        + (
            f"{len(rows.val)} validation rows"
            if len(rows.val)
            else "no validation split (metrics on the training rows)"
        )
        + (f" ({shown})" if shown else "")
        + "".join(f"\n  {line}" for line in plan.describe())
    )


def _target_scale(y: torch.Tensor) -> tuple[float, float]:
    """The training target's mean and standard deviation (1 when constant there)."""
    mean = float(y.double().mean())
    std = float(y.double().std(unbiased=False))
    return mean, std if std > 0 else 1.0
