"""Reading numeric CSV files with errors that point at the exact line and column.

Pure Python on purpose: the file is checked cell by cell, so a bad value is reported
where it is (``data.csv, line 12, column 3: 'abc' is not a number``) instead of as a
parser traceback. Delimiters (comma, semicolon, tab) and a header row are detected;
``.gz`` files are read transparently.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from zoo.errors import DataError
from zoo.readfile import decode_utf8, gunzip, is_gzip, read_bytes, read_maybe_gzipped

#: The largest float32: a larger value would become infinity once the data is a tensor.
FLOAT32_MAX = 3.4028234663852886e38
#: Most columns, rows and cells one CSV may hold: what a few hundred MB of numbers can fill.
MAX_COLUMNS = 10_000
MAX_ROWS = 2_000_000
MAX_CELLS = 20_000_000
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";"}


#: What a table's cells hold: text as read, or numbers.
Value = TypeVar("Value", str, float)


@dataclass
class Grid(Generic[Value]):
    """The rows of a CSV file, with the line each row came from."""

    path: str
    rows: list[list[Value]]
    lines: list[int]
    header: list[str] | None
    delimiter: str

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else len(self.header or [])

    def names(self) -> list[str]:
        return list(self.header) if self.header else [f"column {i + 1}" for i in range(self.width)]


#: Every cell as text (columns of any kind) / as a number.
Cells = Grid[str]
Table = Grid[float]


def _read_text(path: Path) -> str:
    """The file as text: a regular file only, inflated when gzip, both under the data-set limit."""
    what = "a CSV data file"
    if path.suffix == ".gz":
        raw = read_bytes(path, "data", what)
        if not is_gzip(raw):
            raise DataError(
                "ends in .gz but is not gzip data", path, hint="rename it, or compress it with gzip"
            )
        raw = gunzip(raw, path, "data", what)
    else:
        raw = read_maybe_gzipped(path, "data", what)
    return decode_utf8(raw, path, hint="save the file as UTF-8 CSV")


def is_number(cell: str) -> bool:
    """Whether Python reads ``cell`` as a float (``nan`` and ``inf`` included)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def sniff_delimiter(first_line: str) -> str:
    """The most frequent of comma, semicolon and tab in the first line (comma when none)."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_cells(path: str | Path, delimiter: str = "") -> Cells:
    """Every non-blank row's cells, stripped; raise DataError at the first malformed row.

    The first row is a header when none of its cells is a number. Lines starting with
    ``#`` are comments. Every row must have as many cells as the first one, and the file
    may hold at most :data:`MAX_COLUMNS` columns, :data:`MAX_ROWS` rows and
    :data:`MAX_CELLS` cells, so a few bytes can never make a table of gigabytes.
    """
    path = Path(path).expanduser()
    text = _read_text(path)
    if delimiter:
        if delimiter not in DELIMITERS:
            raise DataError(f"unknown delimiter {delimiter!r}", hint="use ',', ';' or 'tab'")
        delimiter = DELIMITERS[delimiter]
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is None:
        raise DataError("is empty (no rows of data)", path, hint="a CSV with one row per sample is expected")
    delim = delimiter or sniff_delimiter(first)

    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    width = 0
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    line = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"is not valid CSV: {exc}", path, line + 1, hint="check the quotes") from None
        line_start = line + 1
        line = reader.line_num
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if not width:
            width = len(cells)
            if width > MAX_COLUMNS:
                raise DataError(
                    f"has {width:,} columns, more than the {MAX_COLUMNS:,} zoo reads",
                    path,
                    line_start,
                    hint="keep the columns the model should see",
                )
            if not any(is_number(c) for c in cells):
                header = cells
                continue
        if len(cells) != width:
            raise DataError(
                f"has {len(cells)} values but the first row has {width}",
                path,
                line_start,
                hint=f"every row needs the same number of {_name(delim)}-separated values",
            )
        if len(rows) >= MAX_ROWS or (len(rows) + 1) * width > MAX_CELLS:
            raise DataError(
                f"has more than {min(MAX_ROWS, MAX_CELLS // width):,} rows of {width} columns "
                f"(zoo reads at most {MAX_ROWS:,} rows and {MAX_CELLS:,} cells)",
                path,
                line_start,
                hint="train on a sample of the rows",
            )
        rows.append(cells)
        lines.append(line_start)
    if not rows:
        raise DataError("has a header but no rows of data", path)
    return Cells(str(path), rows, lines, header, delim)


def to_number(
    cell: str,
    path: str | Path,
    line: int,
    column: int,
    name: str = "",
    hint: str = "every value must be numeric",
) -> float:
    """One cell as a finite float32-sized number, or a DataError at its line and column."""
    where = f" in {name!r}" if name else ""
    try:
        value = float(cell)
    except ValueError:
        what = f"empty cell{where}" if not cell else f"{cell!r}{where} is not a number"
        raise DataError(what, path, line, column, hint=hint) from None
    if not math.isfinite(value):
        raise DataError(
            f"{cell!r}{where} is not a finite number",
            path,
            line,
            column,
            hint="remove or fill rows with NaN or infinite values",
        )
    if abs(value) > FLOAT32_MAX:
        raise DataError(
            f"{cell!r}{where} is too large (beyond float32's {FLOAT32_MAX:.4g})",
            path,
            line,
            column,
            hint="rescale the column; training uses 32-bit floats",
        )
    return value


def read_table(path: str | Path, delimiter: str = "") -> Table:
    """Read every non-blank row as floats; raise DataError at the first bad cell.

    The rows and header as :func:`read_cells` finds them; every value must be a finite
    number that fits in float32.
    """
    return as_table(read_cells(path, delimiter))


def as_table(cells: Cells, hint: str = "every value must be numeric") -> Table:
    """The cells as numbers; the first that is not one is a DataError at its place, with ``hint``."""
    rows = [
        [to_number(cell, cells.path, line, col, hint=hint) for col, cell in enumerate(row, start=1)]
        for row, line in zip(cells.rows, cells.lines)
    ]
    return Table(cells.path, rows, cells.lines, cells.header, cells.delimiter)


def _name(delim: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab"}.get(delim, repr(delim))
