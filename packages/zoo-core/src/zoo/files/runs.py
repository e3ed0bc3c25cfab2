"""``zoo runs``: the run folders under a directory, newest first or best first by a metric.

Runs are compared by what sets them apart: each setting of ``config.json`` (recipe,
hyperparameter, data option, builder config, seed...) whose value is not the same for
every listed run becomes a column, and how each run ended (``outcome.json``) becomes one
when any of them did not finish (a pruned trial of ``zoo tune``, a stopped run).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.contracts.tasks import lower_is_better
from zoo.errors import UsageError, ZooError
from zoo.files.metricslog import Summary, summarize
from zoo.files.runfolder import BEST, LAST, METRICS, OUTCOME, RunFolder

#: Keys of config.json compared between runs, besides the nested groups below; ``model``
#: has its own column and ``runconfig.INFORMATIONAL`` keys say where and how, not what.
TOP_SETTINGS = ("recipe", "seed", "precision", "deterministic", "weights", "save_every", "early_stop")
#: Nested groups of config.json and the prefix of their columns; hyperparameters go bare
#: (``lr``, ``batch_size``) unless the name is taken by a column of the listing.
GROUPS = (("hparams", ""), ("data_options", "data."), ("config", "config."))
#: The listing's own columns.
BASE_COLUMNS = ("run", "model", "date", "epochs", "best")
#: Longest value shown in a column; the whole value stays in ``--json``.
MAX_CELL = 24


def _model_of(run: Path) -> str:
    for name in (LAST, BEST):
        if (run / name).is_file():
            from zoo.files.checkpoint import describe_checkpoint  # torch, only when there is a checkpoint

            try:
                return str(describe_checkpoint(run / name).get("model", "?"))
            except ZooError:
                return "? (damaged checkpoint)"
    return "?"


def _status_of(run: Path) -> str | None:
    """``outcome.json``'s status; None when the run wrote none (running, or killed)."""
    from zoo.files.readfile import read_json

    path = run / OUTCOME
    if not os.path.lexists(path):
        return None
    try:
        data = read_json(path, f"a run's {OUTCOME}")
    except ZooError as exc:
        print(f"warning: {exc.message}", file=sys.stderr)
        return "?"
    status = data.get("status") if isinstance(data, dict) else None
    return status if isinstance(status, str) else "?"


def flat_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A run's settings as column name -> value: top-level keys, then each group's keys."""
    flat = {key: config[key] for key in TOP_SETTINGS if key in config}
    for group, prefix in GROUPS:
        values = config.get(group)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            name = f"{prefix}{key}"
            if name in BASE_COLUMNS or name in TOP_SETTINGS:
                name = f"{group}.{key}"
            flat[name] = value
    return flat


def differing(settings: list[dict[str, Any]]) -> list[str]:
    """The setting names whose value is not the same in every run (missing counts as a value).

    Linear in settings times runs: each value is written out once, and compared with the
    first run's by its text.
    """
    names = list(dict.fromkeys(name for one in settings for name in one))  # first-seen order
    first = {name: _key(settings[0][name]) if name in settings[0] else None for name in names} if settings else {}
    out = []
    for name in names:
        if any((_key(s[name]) if name in s else None) != first[name] for s in settings[1:]):
            out.append(name)
    return out


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _logs_under(directory: Path) -> Iterator[Path]:
    """Every ``metrics.jsonl`` under ``directory``, walked with a stack (any depth), links to folders not followed."""
    stack = [directory]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue  # unreadable, or gone meanwhile
        for entry in entries:
            if entry.name == METRICS:
                yield Path(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))


def find_runs(directory: str | Path, sort: str | None = None) -> list[dict[str, Any]]:
    """The runs under ``directory``: newest first, or best first by the metric ``sort``.

    Each record holds path, model, date, epochs, best and mtime as before, ``settings``
    (the settings that differ between the listed runs), ``status`` (outcome.json's, or
    None) and, with ``sort``, ``sorted_by`` (the metric and this run's best value of it).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a folder", hint="zoo runs [DIR], default ./runs")
    wanted = ("val_accuracy", "val_mse", *([sort] if sort else []))
    found: list[dict[str, Any]] = []
    all_rows: list[Summary] = []
    all_settings: list[dict[str, Any]] = []
    for metrics in _logs_under(directory):
        record, rows = _run_record(metrics, wanted)
        found.append(record)
        all_rows.append(rows)
        all_settings.append(flat_settings(RunFolder(metrics.parent).read_config()))
    names = differing(all_settings)
    for record, settings in zip(found, all_settings, strict=True):
        record["settings"] = {name: settings.get(name) for name in names}
    if sort is not None and found:
        _add_sorted_by(sort, found, all_rows, directory)
    found.sort(key=lambda r: r["mtime"], reverse=True)
    if sort is not None:
        sign = 1.0 if lower_is_better(sort) else -1.0
        # Stable: equal values and runs without the metric keep newest first, the latter last.
        found.sort(key=lambda r: (r["sorted_by"]["value"] is None, sign * (r["sorted_by"]["value"] or 0.0)))
    return found


def _run_record(metrics: Path, wanted: tuple[str, ...]) -> tuple[dict[str, Any], Summary]:
    """One run's row of ``zoo runs`` (without its settings) and the summary of its log."""
    run = metrics.parent
    try:
        rows = summarize(metrics, wanted)
    except UsageError as exc:
        print(f"warning: {exc.message}", file=sys.stderr)
        rows = Summary(wanted)
    try:
        mtime = metrics.stat().st_mtime
    except OSError:  # a dangling or looping link: the link's own time
        mtime = metrics.lstat().st_mtime
    best = "-"
    for key, pick in (("val_accuracy", rows.highest), ("val_mse", rows.lowest)):
        if key in pick:
            best = f"{key} {pick[key]:.4g}"
            break
    record = {
        "path": str(run),
        "model": _model_of(run),
        "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime)),
        "epochs": rows.epochs,
        "best": best,
        "mtime": mtime,
        "status": _status_of(run),
    }
    return record, rows


def _add_sorted_by(sort: str, found: list[dict[str, Any]], all_rows: list[Summary], directory: Path) -> None:
    """Give each record (in the order of ``all_rows``) its best value of the metric ``sort``."""
    known = set().union(*(rows.metrics for rows in all_rows))
    if sort not in known:
        raise UsageError(
            f"no run under {directory} logs a metric {sort!r}",
            hint="--sort takes one of: " + (", ".join(sorted(known)) or "(none logged)"),
        )
    for record, rows in zip(found, all_rows, strict=True):
        best_of = rows.lowest if lower_is_better(sort) else rows.highest
        record["sorted_by"] = {"metric": sort, "value": best_of.get(sort)}


def cell(value: Any) -> str:
    """A setting's value in a table cell: short numbers, true/false, JSON for the rest."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def table(runs: list[dict[str, Any]], width: int | None = None) -> tuple[list[str], list[list[Any]]]:
    """The listing's columns and rows: the base columns, the sort metric, the differing settings, a status.

    ``width`` is a terminal's: when one column per setting would not fit in it, the settings
    share one ``settings`` column of ``name=value`` words, which wraps between them.
    """
    names = list(runs[0]["settings"]) if runs else []
    metric = runs[0]["sorted_by"]["metric"] if runs and "sorted_by" in runs[0] else None
    show_status = any(r["status"] not in (None, "finished") for r in runs)
    head = list(BASE_COLUMNS) + ([metric] if metric is not None else [])
    tail = ["status"] if show_status else []
    rows: list[list[Any]] = []
    for r in runs:
        row: list[Any] = [r["path"], r["model"], r["date"], r["epochs"], r["best"]]
        if metric is not None:
            row.append(cell(r["sorted_by"]["value"]))
        row.extend(cell(r["settings"][name]) for name in names)
        if show_status:
            row.append(r["status"] or "-")
        rows.append(row)
    columns = head + names + tail
    if width is None or not names or _natural_width(columns, rows) <= width:
        return columns, rows
    # Compact: the date (the order without --sort) and, when sorting, ``best`` give way;
    # the pipe and --json keep every column.
    keep = [i for i, c in enumerate(head) if c != "date" and not (metric is not None and c == "best")]
    start, end = len(head), len(head) + len(names)
    merged = [
        [
            *(row[i] for i in keep),
            " ".join(f"{n}={v}" for n, v in zip(names, row[start:end], strict=True)),
            *row[end:],
        ]
        for row in rows
    ]
    return [*(head[i] for i in keep), "settings", *tail], merged


def _natural_width(columns: list[str], rows: list[list[Any]]) -> int:
    """The width a table takes unwrapped: each column's widest cell and a space either side."""
    return sum(max(len(str(c)) for c in [column, *(row[i] for row in rows)]) + 2 for i, column in enumerate(columns))
