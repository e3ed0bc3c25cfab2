"""What to do with each column of a table, decided on the training rows and kept in the checkpoint.

A :class:`TablePlan` says which columns are numbers (with their training median, mean
and scale, and whether a "was missing" indicator goes with them), which are categories
(with their vocabulary), and which were left out and why. The model takes one float
row: the raw numbers (NaN where missing) followed by one category index per
categorical column (0: never seen in training, 1: missing, 2 and up: the vocabulary).
Imputation, standardization and embeddings happen inside the model, so an exported graph
and ``/v2`` take those raw rows too; only the text-to-index step lives here, in
:func:`zoo_tabular.tableio.encode_rows` (``zoo predict``, ``--csv``, serve) and
:func:`encode_table` (``zoo eval`` on given data).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from zoo.plugin import DataError, UsageError
from zoo_tabular.columns import Column, ColumnTable, as_tensor, number_key

#: Slots before the vocabulary in every category column.
UNKNOWN, MISSING, FIRST = 0, 1, 2
#: Numbers beyond this magnitude are refused: the model's float32 arithmetic would overflow.
SAFE_MAGNITUDE = 1e30
#: An all-distinct text column of at least this many rows is an ID.
ID_MIN_ROWS = 20
_ID_NAME = re.compile(r"(^|[\W_])(id|key|index|idx|row|rownames|unnamed.*)$|^$|id$", re.IGNORECASE)


@dataclass
class TablePlan:
    """The checked per-column decisions, as ``data_meta["table"]`` holds them."""

    columns: list[str]
    target: str
    numeric: list[str] = field(default_factory=list)
    median: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    indicator: list[int] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    vocab: list[list[str]] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    na_values: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical

    def to_meta(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_meta(cls, meta: Any) -> TablePlan:
        """The plan from checkpoint metadata; a damaged field is a ValueError naming it."""
        if not isinstance(meta, dict):
            raise ValueError("data_meta.table must be an object")
        try:
            plan = cls(**meta)
        except TypeError as exc:
            raise ValueError(f"data_meta.table is damaged: {exc}") from None
        k = len(plan.numeric)
        lists = (plan.median, plan.mean, plan.std)
        if any(not isinstance(v, list) or len(v) != k for v in lists) or len(plan.vocab) != len(
            plan.categorical
        ):
            raise ValueError("data_meta.table's statistics or vocabularies do not match its columns")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in plan.median + plan.mean):
            raise ValueError("data_meta.table.median and mean must be finite numbers")
        if not all(isinstance(v, (int, float)) and v > 0 for v in plan.std):
            raise ValueError("data_meta.table.std must be positive numbers")
        return plan

    def model_config(self, encoding: str) -> dict[str, Any]:
        """The builder's ``table`` argument: what the model does to a raw row."""
        cards = [FIRST + len(v) for v in self.vocab]
        return {
            "numeric": len(self.numeric),
            "median": self.median,
            "mean": self.mean,
            "std": self.std,
            "indicator": self.indicator,
            "categories": cards,
            "encoding": encoding,
        }

    def describe(self) -> list[str]:
        """One phrase per column, for the training header."""
        out = []
        for i, name in enumerate(self.numeric):
            extra = ", missing cells: median + indicator" if i in self.indicator else ""
            out.append(f"{name}: number{extra}")
        for name, vocab in zip(self.categorical, self.vocab, strict=True):
            out.append(f"{name}: category ({len(vocab)} values + unknown + missing)")
        out += [f"{name}: left out ({why})" for name, why in self.dropped.items()]
        return out


def plan_table(
    table: ColumnTable, target: int, train: torch.Tensor, options: dict[str, Any]
) -> tuple[TablePlan, torch.Tensor]:
    """Decide every column on the training rows ``train``; return the plan and the encoded rows."""
    names = table.names
    ignore = _names(options.get("ignore"), names, "--ignore")
    keep = _names(options.get("keep"), names, "--keep")
    categorical = _names(options.get("categorical"), names, "--categorical")
    if names[target] in ignore | keep | categorical:
        raise UsageError(
            f"{names[target]!r} is the target column; "
            "it cannot be given to --ignore, --keep or --categorical",
            hint="choose another target with --target, or leave the column out of those options",
        )
    plan = TablePlan(list(names), names[target], na_values=sorted(_split(options.get("na_values"))))
    most = int(options.get("max_categories") or 1000)
    numbers: list[torch.Tensor] = []
    codes: list[torch.Tensor] = []
    for i, column in enumerate(table.columns):
        if i == target:
            continue
        if column.name in ignore:
            plan.dropped[column.name] = "--ignore"
            continue
        if column.missing == table.rows:
            plan.dropped[column.name] = "every cell is missing"
            continue
        if column.name in categorical:
            column.as_categories()
        if column.numeric:
            values = _numbers(column, table)
            why = _numeric_drop(column, values, column.name in keep)
            if why:
                plan.dropped[column.name] = why
                continue
            _add_numeric(plan, column, values, train)
            numbers.append(values.float())
        else:
            why = _category_drop(column, table, column.name in keep, most)
            if why:
                plan.dropped[column.name] = why
                continue
            codes.append(_add_categorical(plan, column, train))
    if not plan.features:
        raise DataError(
            "has no feature column left to learn from "
            + "; ".join(f"{k}: {v}" for k, v in list(plan.dropped.items())[:8]),
            table.path,
            hint="keep a column with --keep, or choose another target with --target",
        )
    x = torch.stack(numbers + codes, dim=1) if numbers or codes else torch.zeros(table.rows, 0)
    return plan, x


def _split(value: Any) -> set[str]:
    return {v.strip() for v in str(value or "").split(",") if v.strip()}


def _names(value: Any, names: list[str], flag: str) -> set[str]:
    wanted = _split(value)
    unknown = sorted(wanted - set(names))
    if unknown:
        raise UsageError(
            f"{flag} names {', '.join(map(repr, unknown))}, not a column of the file",
            hint=f"columns: {', '.join(names)[:400]}",
        )
    return wanted


def _numbers(column: Column, table: ColumnTable) -> torch.Tensor:
    values = as_tensor(column.numbers)
    if not column.largest <= SAFE_MAGNITUDE:
        raise DataError(
            f"column {column.name!r} holds {column.largest:.4g}, beyond the {SAFE_MAGNITUDE:.0e} "
            "that 32-bit training handles safely",
            table.path,
            column.largest_line,
            hint="rescale the column (e.g. divide it by a power of ten), "
            f"or leave it out with --ignore {column.name}",
        )
    return values


def _numeric_drop(column: Column, values: torch.Tensor, keep: bool) -> str:
    present = values[~values.isnan()]
    distinct = int(present.unique().numel())
    if distinct <= 1 and column.missing == 0:
        return f"constant: {number_key(float(present[0]))} in every row"
    whole = bool((present == present.round()).all())
    unique = column.missing == 0 and distinct == len(values) and len(values) >= ID_MIN_ROWS
    counting = whole and unique and float(present.max() - present.min()) == len(values) - 1
    if not keep and unique and whole and (counting or _ID_NAME.search(column.name)):
        return "an ID: a different whole number on every row (--keep to use it)"
    return ""


def _category_drop(column: Column, table: ColumnTable, keep: bool, most: int) -> str:
    if column.hashes is not None:
        distinct = int(as_tensor(column.hashes).unique().numel())
    else:
        distinct = len(column.vocab)
    unique = column.missing == 0 and distinct == table.rows and table.rows >= ID_MIN_ROWS
    if unique and not keep:
        return "an ID: a different value on every row (--keep to use it)"
    if column.hashes is not None or distinct > most:
        raise DataError(
            f"category column {column.name!r} has {distinct:,} distinct values, "
            f"more than --max-categories {most:,}",
            table.path,
            hint=f"leave it out with --ignore {column.name}, or raise --max-categories",
        )
    if distinct <= 1 and column.missing == 0:
        return f"constant: {next(iter(column.vocab))!r} in every row"
    return ""


def _add_numeric(plan: TablePlan, column: Column, values: torch.Tensor, train: torch.Tensor) -> None:
    seen = values[train]
    seen = seen[~seen.isnan()]
    if not len(seen):
        seen = values[~values.isnan()]
    median = float(seen.median())
    mean, std = float(seen.mean()), float(seen.std(unbiased=False)) if len(seen) > 1 else 0.0
    if column.missing:
        plan.indicator.append(len(plan.numeric))
    plan.numeric.append(column.name)
    plan.median.append(median)
    plan.mean.append(mean)
    plan.std.append(std if std > 0 else 1.0)


def _add_categorical(plan: TablePlan, column: Column, train: torch.Tensor) -> torch.Tensor:
    """The vocabulary seen in the training rows, sorted; codes remapped (unseen: 0, missing: 1)."""
    codes = as_tensor(column.codes).long()
    names = list(column.vocab)
    seen = codes[train]
    present = sorted({int(c) for c in seen[seen >= 0].unique()}, key=lambda c: names[c])
    mapping = torch.full((len(names) + 1,), UNKNOWN, dtype=torch.int64)
    for new, old in enumerate(present):
        mapping[old] = FIRST + new
    mapping[-1] = MISSING  # code -1 indexes the last slot
    plan.categorical.append(column.name)
    plan.vocab.append([names[c] for c in present])
    return mapping[codes].float()


def encode_table(plan: TablePlan, table: ColumnTable) -> torch.Tensor:
    """A whole table encoded with a checkpoint's plan (``zoo eval --data``): its columns by name."""
    absent = [n for n in plan.features if n not in table.names]
    if absent:
        raise DataError(
            f"lacks the column(s) {', '.join(map(repr, absent[:8]))} the model was trained on",
            table.path,
            hint="the model's columns: " + ", ".join(plan.features)[:300],
        )
    parts = []
    for name in plan.numeric:
        column = table.columns[table.names.index(name)]
        if column.numbers is None:
            line, cell = column.first_text or (0, "")
            raise DataError(
                f"{cell!r} in column {name!r} is not a number, but the model reads numbers there",
                table.path,
                line,
            )
        parts.append(_numbers(column, table).float())
    for name, vocab in zip(plan.categorical, plan.vocab, strict=True):
        column = table.columns[table.names.index(name)]
        column.as_categories()
        known = {key: FIRST + i for i, key in enumerate(vocab)}
        mapping = torch.tensor(
            [known.get(key, UNKNOWN) for key in column.vocab] + [MISSING], dtype=torch.int64
        )
        if column.hashes is not None:
            raise DataError(f"column {name!r} has more distinct values than --max-categories", table.path)
        parts.append(mapping[as_tensor(column.codes).long()].float())
    return torch.stack(parts, dim=1)
