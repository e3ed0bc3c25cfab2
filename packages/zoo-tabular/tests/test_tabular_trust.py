"""Trust regressions for zoo-tabular: no local paths in checkpoints, no non-finite weights,
no memory bombs from metadata, bounded grids, strict CSV and predict inputs, CSV files read
only when regular and inflated under the limit."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from zoo.plugin import NOT_REGULAR_FILES, DataError, UsageError, not_regular_file, run_cli
from zoo_tabular.csvfile import read_table

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ZooRunner = Callable[..., subprocess.CompletedProcess[str]]


def run_zoo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS`` in ``cwd`` with only the tabular plugin loaded (as the conftest does)."""
    return run_cli(*args, cwd=cwd, plugins=("tabular",), env={"OMP_NUM_THREADS": "1"}, check=False)


def diabetes_csv(path: Path, rows: int = 40, label: int | None = None) -> Path:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(rows, 8, generator=g) * 2 - 1
    lines = []
    for i, r in enumerate(x.tolist()):
        y = label if label is not None else i % 2
        lines.append(",".join(f"{v:.4f}" for v in r) + f",{y}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch tabular.diabetes run on a CSV given by its absolute path."""
    work = tmp_path_factory.mktemp("dia")
    data = diabetes_csv(work / "mine.csv").resolve()
    proc = run_zoo(
        "train", "tabular.diabetes", "--data", str(data), "--epochs", "2", "--out", "run", "--quiet", cwd=work
    )
    assert proc.returncode == 0, proc.stderr
    return work / "run"


def metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata())


def rewrite(src: Path, dst: Path, **fields: str) -> Path:
    save_file(load_file(str(src)), str(dst), metadata={**metadata(src), **fields})
    return dst


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


# -- checkpoints hold no absolute local paths ----------------------------------------
def test_checkpoint_records_the_data_file_by_name_and_hash_only(diabetes_run: Path):
    data = (diabetes_run.parent / "mine.csv").resolve()
    for name in ("best.safetensors", "last.safetensors"):
        meta = metadata(diabetes_run / name)
        header = json.dumps(meta)
        assert str(data.parent) not in header and str(data) not in header
        source = json.loads(meta["data_source"])
        assert source["data"]["name"] == "mine.csv"
        assert len(source["data"]["sha256"]) == 64
        assert "data" not in json.loads(meta["data_options"])


# -- non-finite weights are never saved ----------------------------------------------
@pytest.mark.parametrize(
    ("lr", "epochs", "good"), [("1e38", "3", False), ("1e38", "1", False), ("1e10", "5", True)]
)
def test_diverging_run_exits_1_and_leaves_only_finite_checkpoints(
    zoo_cli: ZooRunner, tmp_path, lr, epochs, good
):
    proc = zoo_cli(
        "train", "tabular.linear", "--method", "gd", "--lr", lr, "--epochs", epochs, "--out", "r", "--quiet"
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "inf or nan" in proc.stderr
    left = [
        tmp_path / "r" / n for n in ("last.safetensors", "best.safetensors") if (tmp_path / "r" / n).exists()
    ]
    for path in left:
        assert all(torch.isfinite(t).all() for t in load_file(str(path)).values())
    assert bool(left) == good
    named = "last good weights are in" in proc.stderr
    assert named == good
    for path in left:  # every file left behind is named
        assert f"r/{path.name}" in proc.stderr


# -- metadata cannot make zoo allocate ----------------------------------------------
def test_huge_config_in_metadata_is_refused_before_allocating(diabetes_run: Path, tmp_path: Path):
    bomb = rewrite(diabetes_run / "best.safetensors", tmp_path / "bomb.safetensors",
                   config=json.dumps({"in_features": 8, "hidden": [60000, 60000]}))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(ZOO_LOAD_PLUGINS="tabular", ZOO_DATA_DIR=str(tmp_path / "d"), OMP_NUM_THREADS="1")
    wrapper = (
        "import resource,subprocess,sys; r=subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
    )
    cmd = [
        sys.executable,
        "-c",
        wrapper,
        sys.executable,
        "-m",
        "zoo",
        "predict",
        str(bomb),
        "0,0,0,0,0,0,0,0",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    err = one_line_error(proc)
    assert "bomb.safetensors" in err and ("shape" in err or "config" in err)
    peak_kib = int(proc.stdout.strip().splitlines()[-1])
    assert peak_kib * 1024 < 1.5e9, f"peak RSS {peak_kib} KiB"


# -- grids are bounded before any folder exists ----------------------------------------
def test_too_fine_grid_is_refused_before_creating_a_run_folder(zoo_cli: ZooRunner, tmp_path: Path):
    proc = zoo_cli("train", "tabular.affine", "--method", "grid", "--grid-step", "0.0001")
    err = one_line_error(proc)
    assert "points" in err and "--grid-step" in err and "1,600,080,001" in err
    assert not (tmp_path / "runs").exists()


# -- one line and exit 2 -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["tabular.linear", "--weight-decay", "nan"], "--weight-decay"),
        (["tabular.linear", "--weight-decay", "-1"], "--weight-decay"),
        (["tabular.linear", "--seed", "12345678901234567890"], "--seed"),
        (["tabular.diabetes", "--data"], "--data needs a value"),
        (["tabular.linear", "--method", "grid", "--grid-step", "nan"], "--grid-step"),
        (["tabular.linear", "--method", "grid", "--grid-max", "inf"], "--grid-max"),
    ],
)
def test_bad_numbers_are_one_line_and_exit_2(zoo_cli: ZooRunner, tmp_path: Path, args, expect):
    err = one_line_error(zoo_cli("train", *args, "--out", "r"))
    assert expect in err
    assert not (tmp_path / "r" / "last.safetensors").exists()


def test_config_contradicting_the_data_is_a_usage_error(zoo_cli: ZooRunner, tmp_path: Path):
    data = diabetes_csv(tmp_path / "d.csv")
    err = one_line_error(
        zoo_cli("train", "tabular.diabetes", "--data", str(data), "--in-features", "3", "--quiet")
    )
    assert "--in-features 3" in err


def test_csv_value_beyond_float32_is_refused_with_line_and_column(zoo_cli: ZooRunner, tmp_path: Path):
    data = diabetes_csv(tmp_path / "d.csv", rows=10)
    lines = data.read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[2] = "1e39"
    lines[3] = ",".join(cells)
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err = one_line_error(zoo_cli("train", "tabular.diabetes", "--data", str(data), "--quiet", "--out", "r"))
    assert "d.csv, line 4, column 3" in err and "1e39" in err
    assert not (tmp_path / "r" / "last.safetensors").exists()


def test_single_class_training_data_gets_a_warning(zoo_cli: ZooRunner, tmp_path: Path):
    data = diabetes_csv(tmp_path / "d.csv", label=1)
    proc = zoo_cli("train", "tabular.diabetes", "--data", str(data), "--epochs", "1", "--quiet", ok=True)
    printed = proc.stdout + proc.stderr
    assert "warning: every training label is 1" in printed and "one class" in printed


# -- predict inputs that would answer wrongly ---------------------------------------------
@pytest.mark.parametrize(
    ("text", "where"),
    [("1,,2,3,4,5,6,7", "value 2 of 8"), ("nan", "the value"), ("inf", "the value"),
     ("1e999", "the value"), ("4_0", "the value")],
)  # fmt: skip
def test_predict_inputs_that_would_answer_wrongly_are_refused(
    diabetes_run: Path, tmp_path: Path, text, where
):
    err = one_line_error(run_zoo("predict", str(diabetes_run / "best.safetensors"), "--", text, cwd=tmp_path))
    assert where in err


# -- the CSV reader on any bytes ----------------------------------------------------------
@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.one_of(st.binary(max_size=300), st.text(alphabet='0123456789.,;\t\n\r-+eEinfa#" x', max_size=200))
)
def test_any_bytes_as_csv_give_a_table_or_a_data_error(tmp_path: Path, data: bytes | str):
    path = tmp_path / "any.csv"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    try:
        table = read_table(path)
    except (DataError, UsageError):
        return
    assert table.rows and all(len(r) == table.width for r in table.rows)
    assert all(math.isfinite(v) and abs(v) <= 3.4028234663852886e38 for r in table.rows for v in r)


# -- the CSV file itself: a regular file, bounded before and after gunzip -----------------------
@pytest.mark.parametrize(("kind", "expected"), NOT_REGULAR_FILES)
def test_csv_that_is_not_a_regular_file_is_named_for_what_it_is(tmp_path: Path, kind: str, expected: str):
    path = not_regular_file(tmp_path / "data.csv", kind)
    with pytest.raises(DataError) as info:
        read_table(path)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_gzipped_csv_is_inflated_under_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    small = tmp_path / "small.csv.gz"
    small.write_bytes(gzip.compress(b"1,2,0\n3,4,1\n"))
    assert read_table(small).rows == [[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]]
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"1,2,0\n" * (1 << 20), compresslevel=9))  # 6 MiB from ~10 KB
    monkeypatch.setenv("ZOO_MAX_FILE_MB", "1")
    with pytest.raises(DataError) as info:
        read_table(bomb)
    assert str(info.value).startswith(f"{bomb}: inflates to more than the 1 MiB limit for a CSV data file")
    assert "ZOO_MAX_FILE_MB" in str(info.value)
    fake = tmp_path / "fake.csv.gz"
    fake.write_bytes(b"1,2,0\n")
    with pytest.raises(DataError, match="ends in .gz but is not gzip data"):
        read_table(fake)
