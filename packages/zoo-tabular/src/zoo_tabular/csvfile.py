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

from zoo.errors import DataError
from zoo.readfile import decode_utf8, gunzip, is_gzip, read_bytes, read_maybe_gzipped

#: The largest float32: a larger value would become infinity once the data is a tensor.
FLOAT32_MAX = 3.4028234663852886e38
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";"}


@dataclass
class Table:
    """The numbers of a CSV file, with the line each row came from."""

    path: str
    rows: list[list[float]]
    lines: list[int]
    header: list[str] | None
    delimiter: str

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else len(self.header or [])

    def names(self) -> list[str]:
        return list(self.header) if self.header else [f"column {i + 1}" for i in range(self.width)]


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


def _is_number(cell: str) -> bool:
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


def read_table(path: str | Path, delimiter: str = "") -> Table:
    """Read every non-blank row as floats; raise DataError at the first bad cell.

    The first row is a header when none of its cells is a number. Lines starting with
    ``#`` are comments. Every row must have as many cells as the first one, and every
    value must be a finite number that fits in float32.
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

    rows: list[list[float]] = []
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
            if not any(_is_number(c) for c in cells):
                header = cells
                continue
        if len(cells) != width:
            raise DataError(
                f"has {len(cells)} values but the first row has {width}",
                path,
                line_start,
                hint=f"every row needs the same number of {_name(delim)}-separated values",
            )
        row = []
        for col, cell in enumerate(cells, start=1):
            try:
                value = float(cell)
            except ValueError:
                what = "empty cell" if not cell else f"{cell!r} is not a number"
                raise DataError(what, path, line_start, col, hint="every value must be numeric") from None
            if not math.isfinite(value):
                raise DataError(
                    f"{cell!r} is not a finite number",
                    path,
                    line_start,
                    col,
                    hint="remove or fill rows with NaN or infinite values",
                )
            if abs(value) > FLOAT32_MAX:
                raise DataError(
                    f"{cell!r} is too large (beyond float32's {FLOAT32_MAX:.4g})",
                    path,
                    line_start,
                    col,
                    hint="rescale the column; training uses 32-bit floats",
                )
            row.append(value)
        rows.append(row)
        lines.append(line_start)
    if not rows:
        raise DataError("has a header but no rows of data", path)
    return Table(str(path), rows, lines, header, delim)


def _name(delim: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab"}.get(delim, repr(delim))
