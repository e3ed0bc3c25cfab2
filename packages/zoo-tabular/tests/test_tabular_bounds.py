"""The CSV reader's bounds, each in a child process whose address space is capped by ``resource``:
a file is refused, or read, within 4x its float32 matrix plus 200 MB, and never ends in MemoryError."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

MB = 1 << 20
CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
from zoo.plugin import ZooError
from zoo_tabular.columns import read_columns
try:
    table = read_columns(sys.argv[1])
except ZooError as exc:
    print("refused:", exc.message)
else:
    print("read:", table.rows, "rows", table.width, "columns")
"""


def read_capped(path: Path, cap: int) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(cap=cap), str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stdout.strip()


def test_comment_lines_count_against_the_line_cap(tmp_path):
    path = tmp_path / "comments.csv.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(b"a,b\n1,2\n" + b"#a\n" * 5_000_000)  # 15 MiB inflated from a few KB
    assert path.stat().st_size < 100_000
    said = read_capped(path, 200 * MB)
    assert "refused:" in said and "more than 4,000,000 lines (blank and # lines count too)" in said


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (1_500_000, "1,500,000 columns, more than the 10,000"),
        (3_000_000, "a line longer than 4,000,000 characters"),
    ],
)
def test_a_wide_row_is_refused_before_it_is_split(tmp_path, cells, message):
    path = tmp_path / "wide.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"1," * (cells - 1) + b"1\n")
    said = read_capped(path, 200 * MB)
    assert "refused:" in said and message in said


def test_a_legitimate_table_reads_within_four_times_its_matrix_plus_200_mb(tmp_path):
    rows, columns = 20_000, 200
    path = tmp_path / "big.csv"
    line = ",".join(f"{i % 97}.5" for i in range(columns)) + "\n"
    path.write_text(",".join(f"c{i}" for i in range(columns)) + "\n" + line * rows, encoding="utf-8")
    matrix = rows * columns * 4
    assert read_capped(path, 4 * matrix + 200 * MB) == f"read: {rows} rows {columns} columns"
