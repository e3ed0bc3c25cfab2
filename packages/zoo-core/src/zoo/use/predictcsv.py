"""``zoo predict --out FILE.csv``: predictions as a table, one row per input, for a spreadsheet or pandas.

The columns are the input (``path`` when every input is a file, as for a folder of
pictures), the output (``class`` for a classifier) and then every other field that is a
number, a flag or a short text, in the result's order; lists (``top``) and the display
text stay in ``--json``. The file is written atomically and is never one of the inputs
(``zoo.files.outpath``). No torch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.files.outpath import check_output, write_text_atomic

#: Fields that are not columns: the line ``zoo predict`` prints is made of them.
SKIPPED = frozenset({"input", "output", "display"})


def columns(results: list[dict[str, Any]]) -> list[str]:
    """The scalar fields besides input and output, in the order they first appear."""
    seen: dict[str, None] = {}
    for result in results:
        output = result.get("output")
        for key, value in result.items():
            repeats = type(value) is type(output) and value == output  # a binary probability is its output
            if key not in SKIPPED and isinstance(value, (str, int, float, bool)) and not repeats:
                seen.setdefault(key, None)
    return list(seen)


def check_csv_output(path: str | Path, inputs: Iterable[str]) -> Path:
    """``path`` if it names a ``.csv`` file that may be written and is none of ``inputs`` (a folder's pictures too)."""
    if Path(path).suffix.lower() != ".csv":
        raise UsageError(
            f"--out {path}: the predictions are written as CSV, to a FILE.csv", hint="e.g. --out preds.csv"
        )
    return check_output(path, inputs, flag="--out")


def write_predictions(path: str | Path, results: list[dict[str, Any]]) -> None:
    """``results`` (as ``zoo predict --json`` prints them) as CSV at ``path``."""
    inputs = [str(r.get("input", "")) for r in results]
    first = "path" if inputs and all(Path(i).is_file() for i in inputs) else "input"
    second = "class" if any(isinstance(r.get("top"), list) for r in results) else "output"
    extra = columns(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([first, second, *extra])
    for text, result in zip(inputs, results, strict=True):
        row = [text, _cell(result.get("output")), *(_cell(result.get(key)) for key in extra)]
        writer.writerow(row)
    write_text_atomic(path, buffer.getvalue(), flag="--out")


def _cell(value: Any) -> str:
    """A value as a CSV cell: numbers in full, flags as true/false, lists as ``a;b;c``, none as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ";".join(_cell(v) for v in value)
    return str(value)
