"""Files zoo is given: only regular files are read, never past a cap, gzip inflated under it.

Unit and property tests of zoo.files.readfile, the checkpoint reader's file check, and the CLI
refusing a pipe, a device and a gzip bomb given as data, text, inputs or weights.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from zoo_testkit import Runner

from zoo.errors import CheckpointError, DataError, UsageError
from zoo.files import readfile
from zoo.files.readfile import (
    ENV,
    MiB,
    NotRegularFile,
    check_regular,
    gunzip,
    gunzip_chunks,
    limit,
    read_bytes,
    read_json,
    read_maybe_gzipped,
)
from zoo.files.safefile import read_header
from zoo.files.strictjson import MAX_JSON_DEPTH, parse_json

STABLE = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
needs_dev_zero = pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")


@pytest.fixture(autouse=True)
def default_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


# -- what a path really is -----------------------------------------------------------------------
def _things(tmp_path: Path) -> dict[str, Path]:
    """One of each kind of path that is not a regular file (the ones this system has)."""
    things = {"folder": tmp_path / "folder", "missing": tmp_path / "missing.csv"}
    things["folder"].mkdir()
    (tmp_path / "folder-link").symlink_to(things["folder"])
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    things["folder-link"], things["dangling"] = tmp_path / "folder-link", tmp_path / "dangling"
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        things["fifo"] = tmp_path / "fifo"
    if Path("/dev/zero").exists():
        (tmp_path / "zero-link").symlink_to("/dev/zero")
        things["device"], things["device-link"] = Path("/dev/zero"), tmp_path / "zero-link"
    return things


EXPECTED = {
    "folder": "is a folder, not a file",
    "folder-link": "is a symlink to a folder, not a file",
    "missing": "no such file",
    "dangling": "is a symlink to a missing file",
    "fifo": "is a named pipe (FIFO), not a regular file",
    "device": "is a device, not a regular file",
    "device-link": "is a symlink to a device, not a regular file",
}


def test_each_kind_of_path_is_named_for_what_it_is(tmp_path: Path) -> None:
    for name, path in _things(tmp_path).items():
        for read in (check_regular, lambda p: read_bytes(p, "text", "a text file")):
            with pytest.raises(NotRegularFile) as info:
                read(path)
            assert str(info.value).startswith(f"{path}: {EXPECTED[name]}"), name
    with pytest.raises(DataError, match="cannot be read"):
        check_regular("bad\0name")


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_bytes(b"abc")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    assert read_bytes(tmp_path / "link.txt", "text", "a text file") == b"abc"


@needs_fifo
def test_a_fifo_is_refused_on_its_descriptor_without_reading_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Swapped in after the path check, a FIFO is still refused, and its data stays for its reader."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer is present, so nothing can block
    try:
        os.write(writer, b"hello")
        monkeypatch.setattr(readfile, "check_regular", lambda path, what="", hint=None: Path(path))
        with pytest.raises(NotRegularFile, match="named pipe"):
            read_bytes(fifo, "text", "a text file")
        assert os.read(writer, 5) == b"hello"
    finally:
        os.close(writer)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_file_that_reports_size_zero_is_read_to_its_end() -> None:
    assert b"Name:" in read_bytes("/proc/self/status", "text", "a text file")


def test_a_file_that_grows_after_fstat_is_still_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "grows.txt"
    path.write_bytes(b"x" * 5000)
    real_fstat = os.fstat

    def smaller(fd: int) -> Any:  # the size when the file was opened, before it grew
        info = real_fstat(fd)
        return os.stat_result((*info[:6], 100, *info[7:])) if info.st_size == 5000 else info

    monkeypatch.setattr(readfile.os, "fstat", smaller)
    assert read_bytes(path, "text", "a text file") == b"x" * 5000
    monkeypatch.setenv(ENV, str(4096 / MiB))
    with pytest.raises(DataError, match="is larger than the 4096 bytes limit for a text file"):
        read_bytes(path, "text", "a text file")


# -- limits --------------------------------------------------------------------------------------
def test_the_env_variable_raises_and_lowers_every_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "five.json"
    path.write_bytes(b" " * (5 * MiB))
    assert limit("config") == readfile.LIMITS["config"] == 4 * MiB
    with pytest.raises(DataError) as info:
        read_bytes(path, "config", "a config file")
    assert str(info.value).startswith(f"{path}: is larger than the 4 MiB limit for a config file")
    assert f"set {ENV} (in MiB) to raise the limit" in str(info.value)
    monkeypatch.setenv(ENV, "5.5")
    assert limit("config") == limit("data") == int(5.5 * MiB)
    assert len(read_bytes(path, "config", "a config file")) == 5 * MiB
    monkeypatch.setenv(ENV, "1")
    with pytest.raises(DataError, match="is larger than the 1 MiB limit for a CSV data file"):
        read_bytes(path, "data", "a CSV data file")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "1e12"])
def test_a_bad_limit_value_is_a_usage_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(UsageError, match=f"{ENV} must be a positive number of MiB, got {value!r}"):
        limit("data")


# -- gzip ----------------------------------------------------------------------------------------
def _members() -> st.SearchStrategy[bytes]:
    """Valid gzip streams: one or more members, each padded with zero bytes as gzip allows."""
    member = st.tuples(st.binary(max_size=3000), st.integers(0, 9), st.integers(0, 3)).map(
        lambda m: gzip.compress(m[0], compresslevel=m[1], mtime=0) + b"\0" * m[2]
    )
    return st.lists(member, min_size=1, max_size=4).map(b"".join)


def _python(data: bytes) -> bytes | None:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None


def _ours(data: bytes, cap: int = 64 * MiB) -> bytes | None:
    try:
        return gunzip(data, "x.gz", "data", "a data file", cap=cap)
    except DataError:
        return None


@STABLE
@given(stream=_members(), cut=st.integers(0, 10**6), flip=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_gunzip_agrees_with_the_gzip_module(stream: bytes, cut: int, flip: int, bit: int) -> None:
    assert _ours(stream) == gzip.decompress(stream)
    truncated = stream[: cut % (len(stream) + 1)]
    assert _ours(truncated) == _python(truncated)
    damaged = bytearray(stream)
    damaged[flip % len(stream)] ^= 1 << bit
    ours = _ours(bytes(damaged))
    assert ours is None or ours == _python(bytes(damaged))  # zlib also checks header flags the module skips


@STABLE
@given(stream=_members(), cap=st.integers(0, 12000), chunk=st.integers(1, 5000))
def test_gunzip_stays_under_its_cap_and_chunks_are_bounded(stream: bytes, cap: int, chunk: int) -> None:
    whole = gzip.decompress(stream)
    pieces = list(gunzip_chunks(stream, "x.gz", chunk=chunk))
    assert b"".join(pieces) == whole and all(0 < len(p) <= chunk for p in pieces)
    if len(whole) <= cap:
        assert gunzip(stream, "x.gz", "data", "a data file", cap=cap) == whole
    else:
        with pytest.raises(DataError, match="inflates to more than"):
            gunzip(stream, "x.gz", "data", "a data file", cap=cap)


@STABLE
@given(data=st.binary(max_size=400) | st.binary(max_size=400).map(lambda b: b"\x1f\x8b\x08" + b))
@example(data=gzip.compress(b"a") + b"junk")
@example(data=gzip.compress(b"a") + b"\x1f")
def test_any_bytes_give_bytes_or_a_data_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "any.gz"
    path.write_bytes(data)
    try:
        read_maybe_gzipped(path, "data", "a data file")
    except DataError as exc:
        assert str(exc).startswith(str(path))


def test_a_gzip_bomb_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = gzip.compress(bytes(8 * MiB), compresslevel=9)
    assert len(bomb) < 20000
    monkeypatch.setenv(ENV, "1")
    with pytest.raises(DataError, match=f"x.gz: inflates to more than the 1 MiB limit for a CSV.*\n.*{ENV}"):
        gunzip(bomb, "x.gz", "data", "a CSV")


def test_trailing_bytes_and_cut_streams_are_named() -> None:
    with pytest.raises(DataError, match="4 bytes after the end of the compressed data"):
        gunzip(gzip.compress(b"a") + b"junk", "x.gz", "data", "d")
    with pytest.raises(DataError, match="not a complete gzip file"):
        gunzip(gzip.compress(b"abc" * 100)[:-3], "x.gz", "data", "d")
    assert gunzip(b"", "x.gz", "data", "d") == b""


# -- JSON ----------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@STABLE
@given(value=json_values)
def test_json_round_trips(value: Any) -> None:
    assert parse_json(json.dumps(value), "c.json", "a config") == value


@STABLE
@given(text=st.text(alphabet='{}[]":,0123456789.eE-+ aNInfityrulsfx\\u', max_size=80))
@example(text="1" * 5000)
@example(text="[" * 100000)
def test_any_text_gives_a_value_or_a_data_error(text: str) -> None:
    try:
        parse_json(text, "c.json", "a config")
    except DataError as exc:
        assert str(exc).startswith("c.json: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "a": 2}', "the key 'a' appears twice in one object"),
        ("1" * 5000, "an integer of 5000 digits is longer than the 4300-digit limit"),
        ("[-" + "9" * 4301 + "]", "an integer of 4301 digits"),
        ("[1e400]", "the number 1e400 is too large"),
        ("NaN", "NaN is not a JSON number"),
        ('{"x": -Infinity}', "-Infinity is not a JSON number"),
        ('"\\ud800"', "not valid Unicode"),
        ('{"\\udfff": 1}', "not valid Unicode"),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), f"nested more than {MAX_JSON_DEPTH} levels"),
        ("[" * 100000, f"nested more than {MAX_JSON_DEPTH} levels"),
        ('{"a": ', "is not valid JSON (Expecting value: line 1 column 7"),
    ],
)
def test_unusable_json_is_one_data_error(text: str, expected: str) -> None:
    with pytest.raises(DataError) as info:
        parse_json(text, "c.json", "a config")
    assert str(info.value).startswith("c.json: ") and expected in str(info.value)


def test_json_depth_limit_is_inclusive_and_ints_ignore_the_interpreter_setting() -> None:
    deep = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(deep, "c.json", "a config") is not None
    if not hasattr(sys, "set_int_max_str_digits"):
        return
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # unlimited: a long number would parse in quadratic time
    try:
        with pytest.raises(DataError, match="4300-digit limit"):
            parse_json("9" * 100_000, "c.json", "a config")
    finally:
        sys.set_int_max_str_digits(before)


def test_read_json_drops_a_bom_and_names_bad_utf8(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_bytes(b'\xef\xbb\xbf{"a": [1]}')
    assert read_json(tmp_path / "ok.json", "a config") == {"a": [1]}
    (tmp_path / "bad.json").write_bytes(b'{"a":\n"\xff"}')
    with pytest.raises(DataError, match=r"bad.json, line 2: not valid UTF-8: byte 0xff at byte offset 7"):
        read_json(tmp_path / "bad.json", "a config")


# -- checkpoints ---------------------------------------------------------------------------------
def test_the_checkpoint_reader_names_what_a_path_is(tmp_path: Path) -> None:
    wording = {
        "folder": "is a directory, not a .safetensors checkpoint file",
        "folder-link": "is a symlink to a directory, not a .safetensors checkpoint file",
        "fifo": "is a named pipe (FIFO), not a .safetensors checkpoint file",
        "device": "is a device, not a .safetensors checkpoint file",
        "device-link": "is a symlink to a device, not a .safetensors checkpoint file",
    }
    for name, path in _things(tmp_path).items():
        with pytest.raises(CheckpointError) as info:
            read_header(path)
        assert str(info.value).startswith(f"{path}: {wording.get(name, EXPECTED[name])}"), name


def test_a_sparse_gigabyte_checkpoint_is_one_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "sparse.safetensors"
    with open(path, "wb") as handle:
        handle.truncate(1 << 30)
    with pytest.raises(CheckpointError, match="header is not valid JSON"):
        read_header(path)


# -- the CLI -------------------------------------------------------------------------------------
def _idx_bomb(path: Path) -> None:
    """An IDX image file that announces 10 images and inflates to 4 MiB."""
    header = struct.pack(">HBBIII", 0, 8, 3, 10, 28, 28)
    path.write_bytes(gzip.compress(header + bytes(4 * MiB), compresslevel=9))


CASES = {
    "fifo-weights": ("tabular", ("train", "tabular.diabetes", "--weights", "{fifo}"), "{fifo}: is a named pipe"),
    "fifo-csv": ("seq", ("predict", "seq.rnncell", "--csv", "{fifo}"), "{fifo}: is a named pipe"),
    "zero-text": (
        "seq",
        ("train", "seq.embedding", "--recipe", "text", "--text", "{zero}"),
        "{zero}: is a symlink to a device",
    ),
    "zero-data": ("tabular", ("train", "tabular.diabetes", "--data", "{zero}"), "{zero}: is a symlink to a device"),
    "bomb-data": (
        "tabular",
        ("train", "tabular.diabetes", "--data", "{bomb}"),
        "{bomb}: inflates to more than the 1 MiB limit for a CSV data file",
    ),
    "bomb-mnist": (
        "vision",
        ("train", "vision.fc", "--data-dir", "{mnist}"),
        "{mnist}/MNIST/raw/train-images-idx3-ubyte.gz: inflates to more than the 7856 bytes its IDX header announces",
    ),
}


@needs_fifo
@needs_dev_zero
@pytest.mark.parametrize("case", list(CASES))
def test_cli_refuses_pipes_devices_and_bombs(tmp_path: Path, zoo_cli: Runner, case: str) -> None:
    plugin, args, expected = CASES[case]
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "bomb.csv.gz").write_bytes(gzip.compress(b"1," * (2 * MiB), compresslevel=9))
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _idx_bomb(raw / "train-images-idx3-ubyte.gz")
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"")
    names = {
        "fifo": str(tmp_path / "fifo"),
        "zero": str(tmp_path / "zero"),
        "bomb": str(tmp_path / "bomb.csv.gz"),
        "mnist": str(tmp_path / "mnist"),
    }
    env = {"ZOO_LOAD_PLUGINS": plugin, ENV: "1", "ZOO_OFFLINE": "1"}
    proc = zoo_cli(*(arg.format(**names) for arg in args), env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: " + expected.format(**names)), proc.stderr
    assert "Traceback" not in proc.stderr
    if case.startswith("bomb-data"):
        assert ENV in proc.stderr
