"""Reading numeric CSV files with errors that point at the exact line and column.

Pure Python on purpose: the file is checked cell by cell, so a bad value is reported
where it is (``data.csv, line 12, column 3: 'abc' is not a number``) instead of as a
parser traceback. Delimiters (comma, semicolon, tab) and a header row are detected;
``.gz`` files are read transparently. The file is streamed: a chunk of bytes, a line
and a row at a time, each capped before the next is read, so the memory a file costs
is the rows a caller keeps, never the text.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from zoo.plugin import DataError
from zoo_tabular.csvlines import MAX_LINE_CHARS as MAX_LINE_CHARS
from zoo_tabular.csvlines import MAX_LINES as MAX_LINES
from zoo_tabular.csvlines import text_lines

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


@dataclass
class Rows:
    """A CSV file being read: its header, delimiter and width, and the rows still to come."""

    path: str
    header: list[str] | None
    delimiter: str
    width: int
    rows: Iterator[tuple[int, list[str]]]

    def names(self) -> list[str]:
        return list(self.header) if self.header else [f"column {i + 1}" for i in range(self.width)]


def iter_rows(path: str | Path, delimiter: str = "") -> Rows:
    """Stream a CSV's non-blank, non-comment rows as (line, stripped cells), checked as they come.

    The first row is a header when none of its cells is a number. Lines starting with
    ``#`` are comments. A line with more delimiters than :data:`MAX_COLUMNS` allows is
    refused before it is split, every row must have as many cells as the first one, and at
    most :data:`MAX_ROWS` rows and :data:`MAX_CELLS` cells are read, so a few bytes can
    never make a table of gigabytes.
    """
    path = Path(path).expanduser()
    if delimiter:
        if delimiter not in DELIMITERS:
            raise DataError(f"unknown delimiter {delimiter!r}", hint="use ',', ';' or 'tab'")
        delimiter = DELIMITERS[delimiter]
    lines = text_lines(path)
    ahead: list[str] = []
    for text in lines:
        ahead.append(text)
        if text.strip() and not text.lstrip().startswith("#"):
            break
    first = next((t for t in reversed(ahead) if t.strip() and not t.lstrip().startswith("#")), None)
    if first is None:
        raise DataError("is empty (no rows of data)", path, hint="a CSV with one row per sample is expected")
    delim = delimiter or sniff_delimiter(first)
    reader = csv.reader(_column_capped(itertools.chain(ahead, lines), delim, path), delimiter=delim)
    stream = _rows(reader, path, delim)
    try:
        line, cells = next(stream)
    except StopIteration:
        raise DataError("is empty (no rows of data)", path) from None
    width = len(cells)
    header = None
    if not any(is_number(c) for c in cells):
        header = cells
        rest: Iterator[tuple[int, list[str]]] = stream
    else:
        rest = itertools.chain([(line, cells)], stream)
    return Rows(str(path), header, delim, width, _width_checked(rest, width, path, delim))


def _column_capped(lines: Iterator[str], delim: str, path: Path) -> Iterator[str]:
    for number, text in enumerate(lines, start=1):
        if text.count(delim) >= MAX_COLUMNS:
            raise DataError(
                f"has {text.count(delim) + 1:,} columns, more than the {MAX_COLUMNS:,} zoo reads "
                f"(counted as {_name(delim)}s in the line, before it is split)",
                path,
                number,
                hint="keep the columns the model should see",
            )
        yield text


def _rows(reader: Any, path: Path, delim: str) -> Iterator[tuple[int, list[str]]]:
    line = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"is not valid CSV: {exc}", path, line + 1, hint="check the quotes") from None
        start = line + 1
        line = reader.line_num
        cells = [c.strip() for c in cells]
        if any(cells) and not cells[0].startswith("#"):
            yield start, cells


def _width_checked(
    rows: Iterator[tuple[int, list[str]]], width: int, path: Path, delim: str
) -> Iterator[tuple[int, list[str]]]:
    most = min(MAX_ROWS, MAX_CELLS // max(width, 1))
    for count, (line, cells) in enumerate(rows, start=1):
        if len(cells) != width:
            raise DataError(
                f"has {len(cells)} values but the first row has {width}",
                path,
                line,
                hint=f"every row needs the same number of {_name(delim)}-separated values",
            )
        if count > most:
            raise DataError(
                f"has more than {most:,} rows of {width} columns "
                f"(zoo reads at most {MAX_ROWS:,} rows and {MAX_CELLS:,} cells)",
                path,
                line,
                hint="train on a sample of the rows",
            )
        yield line, cells


def read_cells(path: str | Path, delimiter: str = "") -> Cells:
    """Every row's cells as text (see :func:`iter_rows`); a header with no rows is an error."""
    stream = iter_rows(path, delimiter)
    rows: list[list[str]] = []
    lines: list[int] = []
    for line, cells in stream.rows:
        rows.append(cells)
        lines.append(line)
    if not rows:
        raise DataError("has a header but no rows of data", stream.path)
    return Cells(stream.path, rows, lines, stream.header, stream.delimiter)


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
