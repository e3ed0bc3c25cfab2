"""A CSV read column by column into compact arrays, each column typed by its content.

Rows stream in from :func:`zoo_tabular.csvfile.iter_rows` and are never kept as text:
a column holds 8-byte numbers (NaN where a cell is missing) until a cell that is not a
number arrives, then 4-byte category codes with a vocabulary, and, past
``max_distinct`` distinct values, only 8-byte hashes (enough to tell an ID column from
one with too many categories). So a table costs about 8 bytes a cell while it is read,
whatever its text, and its memory is a small multiple of the float32 matrix it becomes.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.plugin import DataError
from zoo_tabular.csvfile import iter_rows

if TYPE_CHECKING:
    import torch

#: Cells read as missing, compared in lower case; ``--na-values`` adds more.
NA_VALUES = ("", "na", "n/a", "nan", "null", "none", "?", "-nan")
#: The hash a missing cell gets in a hashed column (it only has to differ from real values).
_MISSING_HASH = -(2**63)


def number_key(value: float) -> str:
    """A number as a category name: ``3`` and ``3.0`` are one category, ``0.5`` stays ``0.5``."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def cell_key(cell: str) -> str:
    """A category name for a cell: numbers by value, text as written."""
    try:
        value = float(cell)
    except ValueError:
        return cell
    return number_key(value) if math.isfinite(value) else cell


class Column:
    """One column's cells as numbers, category codes or hashes, whichever its content needs."""

    def __init__(self, name: str, max_distinct: int) -> None:
        self.name = name
        self.numbers: array[float] | None = array("d")
        self.codes: array[int] | None = None
        self.hashes: array[int] | None = None
        self.vocab: dict[str, int] = {}
        self.missing = 0
        self.largest = 0.0  # the largest magnitude among its numbers, and where it is
        self.largest_line = 0
        self.first_text: tuple[int, str] | None = None  # the first cell that is not a number
        self._max = max_distinct

    @property
    def numeric(self) -> bool:
        return self.numbers is not None

    @property
    def hashed(self) -> bool:
        return self.hashes is not None

    def add(self, cell: str, missing: bool, line: int) -> None:
        if missing:
            self.missing += 1
            if self.numbers is not None:
                self.numbers.append(math.nan)
            elif self.codes is not None:
                self.codes.append(-1)
            elif self.hashes is not None:
                self.hashes.append(_MISSING_HASH)
            return
        if self.numbers is not None:
            try:
                value = float(cell)
            except ValueError:
                self.first_text = (line, cell)
                self._to_codes()
            else:
                if not abs(value) <= self.largest:  # NaN and infinity land here too
                    self.largest, self.largest_line = abs(value), line
                self.numbers.append(value)
                return
        self._add_key(cell_key(cell))

    def _add_key(self, key: str) -> None:
        if self.codes is not None:
            code = self.vocab.get(key)
            if code is None:
                if len(self.vocab) >= self._max:
                    self._to_hashes()
                    self._add_key(key)
                    return
                code = self.vocab[key] = len(self.vocab)
            self.codes.append(code)
        elif self.hashes is not None:
            self.hashes.append(hash(key))

    def _to_codes(self) -> None:
        numbers, self.numbers, self.codes = self.numbers or array("d"), None, array("i")
        for value in numbers:
            if math.isnan(value):
                self.codes.append(-1)
            else:
                self._add_key(number_key(value) if math.isfinite(value) else repr(value))

    def _to_hashes(self) -> None:
        names = list(self.vocab)
        codes, self.codes, self.vocab = self.codes or array("i"), None, {}
        self.hashes = array("q", (_MISSING_HASH if c < 0 else hash(names[c]) for c in codes))

    def as_categories(self) -> None:
        """Read a numeric column as categories (``--categorical``)."""
        if self.numbers is not None:
            self._to_codes()


@dataclass
class ColumnTable:
    """A whole CSV as columns, with the line each row came from (for errors)."""

    path: str
    names: list[str]
    columns: list[Column]
    lines: array[int]
    header: bool
    delimiter: str

    @property
    def rows(self) -> int:
        return len(self.lines)

    @property
    def width(self) -> int:
        return len(self.names)


def read_columns(
    path: str | Path, delimiter: str = "", na_values: Iterable[str] = (), max_distinct: int = 1000
) -> ColumnTable:
    """Stream ``path`` into typed columns; a cell in ``NA_VALUES`` or ``na_values`` is missing."""
    stream = iter_rows(path, delimiter)
    names = stream.names()
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DataError(
            f"names the column(s) {', '.join(map(repr, twice))} more than once",
            stream.path,
            hint="give every column its own name in the header row",
        )
    na = {v.lower() for v in (*NA_VALUES, *na_values)}
    columns = [Column(name, max_distinct) for name in names]
    lines = array("q")
    for line, cells in stream.rows:
        lines.append(line)
        for column, cell in zip(columns, cells, strict=True):
            column.add(cell, cell.lower() in na, line)
    if not lines:
        raise DataError("has a header but no rows of data", stream.path)
    return ColumnTable(stream.path, names, columns, lines, stream.header is not None, stream.delimiter)


def as_tensor(values: array[Any] | None) -> torch.Tensor:
    """A column's array as a tensor of its own type, without a pass through Python numbers."""
    import torch

    if values is None or not len(values):
        return torch.zeros(0, dtype=torch.float64)
    kind = {"d": torch.float64, "i": torch.int32, "q": torch.int64}[values.typecode]
    return torch.frombuffer(values, dtype=kind).clone()


def table_of(source: str, names: list[str], rows: list[list[str]], max_distinct: int = 1000) -> ColumnTable:
    """Rows made in memory (a generated sample) as a table, typed as a file's would be."""
    na = set(NA_VALUES)
    columns = [Column(name, max_distinct) for name in names]
    lines = array("q")
    for line, cells in enumerate(rows, start=2):
        lines.append(line)
        for column, cell in zip(columns, cells, strict=True):
            column.add(cell, cell.lower() in na, line)
    return ColumnTable(source, list(names), columns, lines, True, ",")
