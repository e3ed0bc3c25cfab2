"""Raw rows in and out of a model of typed columns: parsing, ``--csv`` by name, forms, export notes.

What ``zoo predict``, serve and ``zoo export`` need from a checkpoint's table plan
(``zoo_tabular.encoding``), kept apart from the adapters so they stay about behaviour.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import torch

from zoo.plugin import Task, UsageError, metric_mode
from zoo_tabular.columns import NA_VALUES, cell_key
from zoo_tabular.csvfile import iter_rows
from zoo_tabular.encoding import FIRST, MISSING, SAFE_MAGNITUDE, UNKNOWN, TablePlan


def table_plan(meta: dict[str, Any]) -> TablePlan:
    """The checkpoint's table plan, checked (a damaged field is a ValueError naming it)."""
    return TablePlan.from_meta(meta.get("table"))


def text_cells(text: str) -> list[str]:
    """One input row as its cells: comma-separated, quotes allowed around a cell holding a comma."""
    try:
        rows = list(csv.reader([text], skipinitialspace=True))
    except csv.Error as exc:
        raise UsageError(f"input {text[:60]!r} is not one CSV row: {exc}") from None
    return [c.strip() for c in rows[0]] if rows else [""]


def csv_rows_by_name(path: str | Path, plan: TablePlan) -> tuple[str, list[int], list[dict[str, str]]]:
    """Every row of a CSV to predict, by column name.

    With a header, columns are matched by name in any order; the target column may be absent
    and left-out columns may be there, but every feature the model uses must be, and a column
    the training file did not have is an error. Without a header, rows are laid out as
    :func:`zoo_tabular.encoding.row_cells` takes them.
    """
    stream = iter_rows(path)
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    if stream.header is not None:
        names = stream.header
        unknown = [n for n in names if n not in plan.columns]
        absent = [n for n in plan.features if n not in names]
        if unknown or absent:
            said = []
            if unknown:
                said.append(f"has column(s) {', '.join(map(repr, unknown[:8]))} the model was not trained on")
            if absent:
                said.append(f"lacks the feature column(s) {', '.join(map(repr, absent[:8]))}")
            raise UsageError(
                f"{stream.path} " + " and ".join(said),
                hint="the model's columns: " + ", ".join(plan.features)[:300],
            )
        for line, cells in stream.rows:
            rows.append(dict(zip(names, cells, strict=True)))
            lines.append(line)
    else:
        for line, cells in stream.rows:
            rows.append(row_cells(plan, cells, f"{stream.path}, line {line}"))
            lines.append(line)
    return stream.path, lines, rows


def example_rows(plan: TablePlan, batch: int) -> torch.Tensor:
    """Rows to trace and check an export with: medians and first categories, every other row the means
    and missing categories (no NaN: the round trip of ``zoo check`` goes through JSON)."""
    full = plan.median + [float(FIRST)] * len(plan.categorical)
    empty = plan.mean + [float(MISSING)] * len(plan.categorical)
    return torch.tensor([full if i % 2 == 0 else empty for i in range(batch)], dtype=torch.float32)


def table_form(plan: TablePlan, meta: dict[str, Any], binary: bool) -> dict[str, Any]:
    """The web form of a model of typed columns: one text row, and what each field holds."""
    fields = [
        {"name": n, "kind": "number", "example": m} for n, m in zip(plan.numeric, plan.median, strict=True)
    ]
    fields += [
        {"name": n, "kind": "category", "choices": v[:100], "example": v[0] if v else ""}
        for n, v in zip(plan.categorical, plan.vocab, strict=True)
    ]
    return {
        "kind": "text",
        "count": len(fields),
        "names": plan.features,
        "fields": fields,
        "label": meta.get("label", ""),
        "binary": binary,
    }


def table_preprocessing(plan: TablePlan) -> dict[str, Any]:
    """How to make the exported graph's input from a raw row (it imputes and scales by itself)."""
    return {
        "input": "one float row: the numeric columns as they are (NaN where missing), then one category "
        f"index per categorical column ({MISSING}: missing, 0: not seen in training, "
        f"{FIRST}+: the vocabulary)",
        "numeric": plan.numeric,
        "categorical": {n: v for n, v in zip(plan.categorical, plan.vocab, strict=True)},
        "first_index": FIRST,
        "inside_the_graph": "median imputation with missing indicators, standardization, embeddings",
    }


def chosen_metric(task: Task, name: Any, extra: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """``--metric NAME`` as (metric, min or max); None for the task's own; unknown names refused."""
    if name in (None, ""):
        return None
    known = (*task.metric_names, *extra)
    if name not in known:
        raise UsageError(
            f"unknown --metric {name!r}", hint=f"metrics for a {task.name} model: {', '.join(known)}"
        )
    return str(name), metric_mode(str(name))


def row_cells(plan: TablePlan, cells: list[str], place: str) -> dict[str, str]:
    """A row of cells by column name: every column of the training file, all but its target, or
    just the features it uses, in the file's order."""
    layouts = (
        plan.columns,
        [c for c in plan.columns if c != plan.target],
        [c for c in plan.columns if c in set(plan.features)],
    )
    for names in layouts:
        if len(cells) == len(names):
            return dict(zip(names, cells, strict=True))
    counts = sorted({len(n) for n in layouts})
    raise UsageError(
        f"{place} has {len(cells)} value(s), but the model reads rows of "
        + " or ".join(str(c) for c in counts)
        + " values",
        hint="columns, in order: " + ", ".join(layouts[1])[:300],
    )


def encode_rows(plan: TablePlan, rows: list[dict[str, str]], places: list[str]) -> torch.Tensor:
    """Rows of raw cells by column name -> the model's float rows (raw numbers, category indices)."""
    na = {v.lower() for v in (*NA_VALUES, *plan.na_values)}
    index = [{name: FIRST + i for i, name in enumerate(vocab)} for vocab in plan.vocab]
    out = torch.empty(len(rows), len(plan.features), dtype=torch.float32)
    for r, (row, place) in enumerate(zip(rows, places, strict=True)):
        for j, name in enumerate(plan.numeric):
            out[r, j] = _number(row.get(name, ""), na, name, place)
        k = len(plan.numeric)
        for j, name in enumerate(plan.categorical):
            cell = row.get(name, "").strip()
            out[r, k + j] = MISSING if cell.lower() in na else index[j].get(cell_key(cell), UNKNOWN)
    return out


def _number(cell: str, na: set[str], name: str, place: str) -> float:
    cell = cell.strip()
    if cell.lower() in na:
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        raise UsageError(
            f"{place}: {cell!r} in column {name!r} is not a number",
            hint="leave the cell empty if it is missing",
        ) from None
    if not abs(value) <= SAFE_MAGNITUDE:
        raise UsageError(f"{place}: {cell!r} in column {name!r} is beyond {SAFE_MAGNITUDE:.0e}")
    return value
