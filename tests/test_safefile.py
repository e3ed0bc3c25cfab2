"""Tests for zoo.files.safefile: real files on disk, real optimizers and schedulers, real crashes."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from zoo.errors import CheckpointError
from zoo.files import safefile
from zoo.files.safefile import read_header, read_safetensors, write_safetensors
from zoo.files.safeheader import MAX_HEADER_BYTES

CUDA = torch.cuda.is_available()


def _temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp-*"))


def _craft(path: Path, header: dict[str, Any] | bytes, data: bytes = b"") -> Path:
    """Write a file by hand: 8-byte little-endian header length, header, data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def _entry(dtype: str, shape: Any, begin: Any, end: Any) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def _reject(path: Path, *fragments: str) -> CheckpointError:
    """Assert both readers refuse the file with one CheckpointError naming it and the problem."""
    with pytest.raises(CheckpointError) as caught:
        read_header(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert caught.value.exit_code == 2
    with pytest.raises(CheckpointError) as again:
        read_safetensors(path)
    assert str(again.value) == message
    return caught.value


# --------------------------------------------------------------------------- round trips


def test_round_trip_of_many_dtypes_and_shapes(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 4, generator=gen),
        "f64": torch.randn(5, generator=gen, dtype=torch.float64),
        "f16": torch.randn(2, 3, generator=gen).half(),
        "bf16": torch.tensor([1.5, -2.25, 3.0e38, float("inf")], dtype=torch.bfloat16),
        "i64": torch.tensor([-(2**62), 0, 2**62 + 7], dtype=torch.int64),
        "i32": torch.arange(-3, 3, dtype=torch.int32),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([[True, False], [False, True]]),
        "scalar": torch.tensor(3.25),
        "scalar_int": torch.tensor(7, dtype=torch.int64),
        "empty": torch.zeros(0, 3),
        "nan": torch.tensor([float("nan"), -0.0]),
        "transposed": torch.arange(12.0).reshape(3, 4).t(),
        "param": torch.nn.Parameter(torch.ones(2)),
    }
    metadata = {
        "format": "1",
        "model": "tabular.linear",
        "unicode": "模型 ✓",
        "config": json.dumps({"a": [1]}),
    }
    path = tmp_path / "model.safetensors"
    write_safetensors(path, tensors, metadata)

    loaded, meta = read_safetensors(path)
    assert meta == metadata
    assert set(loaded) == set(tensors)
    for name, original in tensors.items():
        got = loaded[name]
        assert got.dtype == original.dtype, name
        assert got.shape == original.shape, name
        assert not got.requires_grad
        assert torch.equal(got, original.detach()) or (
            name == "nan" and math.isnan(got[0].item()) and str(got[1].item()) == "-0.0"
        ), name

    # The file is plain safetensors that the reference library reads too.
    assert torch.equal(load_file(path)["transposed"], tensors["transposed"])
    entries, meta2 = read_header(path)
    assert meta2 == metadata
    assert entries["scalar"] == {
        "dtype": "F32",
        "shape": [],
        "data_offsets": entries["scalar"]["data_offsets"],
    }
    assert entries["empty"]["shape"] == [0, 3]
    assert entries["bf16"]["dtype"] == "BF16"
    assert _temp_files(tmp_path) == []


def test_empty_metadata_and_no_tensors(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    write_safetensors(path, {}, {})
    assert read_safetensors(path) == ({}, {})


def test_overwrite_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "last.safetensors"
    write_safetensors(path, {"w": torch.ones(1000)}, {"epoch": "1"})
    write_safetensors(path, {"v": torch.zeros(2)}, {"epoch": "2"})
    tensors, meta = read_safetensors(path)
    assert meta == {"epoch": "2"}
    assert list(tensors) == ["v"]
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize(
    ("tensors", "metadata", "error"),
    [
        ({"w": torch.ones(1)}, {"epoch": 3}, TypeError),
        ({"w": torch.ones(1)}, {1: "x"}, TypeError),
        ({"w": [1.0]}, {}, TypeError),
        ({3: torch.ones(1)}, {}, TypeError),
        ({"__metadata__": torch.ones(1)}, {}, ValueError),
        ({"s": torch.ones(2).to_sparse()}, {}, TypeError),
    ],
)
def test_bad_write_arguments_fail_before_any_file_exists(
    tmp_path: Path, tensors: Any, metadata: Any, error: type[Exception]
) -> None:
    path = tmp_path / "x.safetensors"
    with pytest.raises(error):
        write_safetensors(path, tensors, metadata)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, OSError])
def test_failed_write_removes_temp_and_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: type[BaseException]
) -> None:
    path = tmp_path / "best.safetensors"
    write_safetensors(path, {"w": torch.full((4,), 1.0)}, {"epoch": "1"})
    real_write = safefile._write_all
    calls = []

    def write_then_fail(fd: int, data: bytes) -> None:
        real_write(fd, data)
        calls.append(1)
        assert len(_temp_files(tmp_path)) == 1  # the data really is going to a temp file
        raise interrupt("stop")

    monkeypatch.setattr(safefile, "_write_all", write_then_fail)
    with pytest.raises(interrupt):
        write_safetensors(path, {"w": torch.full((4,), 2.0), "b": torch.ones(1)}, {"epoch": "2"})
    assert calls == [1]
    assert _temp_files(tmp_path) == []
    tensors, meta = read_safetensors(path)
    assert meta == {"epoch": "1"}
    assert torch.equal(tensors["w"], torch.full((4,), 1.0))


_WRITER = """
import os, sys, time, torch
from zoo.files import safefile
from zoo.files.safefile import write_safetensors

def slow_disk(fd, data):
    # 8 MB at a time with a pause: a slow disk, so that a kill surely lands mid-write
    view = memoryview(data)
    for start in range(0, len(view), 8 << 20):
        os.write(fd, view[start : start + (8 << 20)])
        time.sleep(0.01)

safefile._write_all = slow_disk
path = sys.argv[1]
big = torch.empty(50_000_000, dtype=torch.float32)  # 200 MB
generation = 0
while True:
    generation += 1
    big.fill_(generation)
    write_safetensors(path, {"big": big}, {"generation": str(generation)})
"""


def _partial_temp(folder: Path, full_size: int) -> Path | None:
    """A temp file of the writer that holds some bytes but not a whole new checkpoint."""
    for temp in _temp_files(folder):
        try:
            if 0 < temp.stat().st_size < full_size:
                return temp
        except FileNotFoundError:  # renamed into place between listing and stat
            pass
    return None


def test_sigkill_mid_write_leaves_previous_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "last.safetensors"
    write_safetensors(path, {"big": torch.zeros(4)}, {"generation": "0"})
    full_size = 8 + 50_000_000 * 4  # a complete new file is at least this big
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)])
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "writer died on its own"
            assert time.monotonic() < deadline, "never caught the writer in the middle of a write"
            read_header(path)  # the final name is complete at every moment of the loop
            if _partial_temp(tmp_path, full_size) is None:
                time.sleep(0.002)
                continue
            # Freeze the writer, then look again: what is seen now is what the kill will leave.
            # Seen before the stop, the write may have finished in between; then let it go on.
            os.kill(proc.pid, signal.SIGSTOP)
            _, status = os.waitpid(proc.pid, os.WUNTRACED)  # returns once it has really stopped
            assert os.WIFSTOPPED(status), status
            if _partial_temp(tmp_path, full_size) is not None:
                break
            os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # The temp name is hidden and never the final name; the killed write left one behind.
    leftovers = _temp_files(tmp_path)
    assert leftovers, "the kill did not land mid-write"
    for temp in leftovers:
        assert re.fullmatch(r"\.last\.safetensors\.tmp-\d+-[0-9a-f]{8}", temp.name), temp.name
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["last.safetensors"]

    # Whatever generation the final name holds, it is complete and consistent.
    tensors, meta = read_safetensors(path)
    generation = int(meta["generation"])
    big = tensors["big"]
    if generation == 0:
        assert torch.equal(big, torch.zeros(4))
    else:
        assert big.numel() == 50_000_000
        assert bool((big == generation).all())


# --------------------------------------------------------------------------- rejections


def test_missing_file(tmp_path: Path) -> None:
    _reject(tmp_path / "nope.safetensors", "no such file")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "run.safetensors"
    folder.mkdir()
    _reject(folder, "is a directory")


@pytest.mark.parametrize(("content", "fragment"), [(b"", "file is empty"), (b"\x10\x00\x00", "too short (3 bytes)")])
def test_empty_and_too_short(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "short.safetensors"
    path.write_bytes(content)
    _reject(path, fragment)


def test_header_length_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{}")
    _reject(path, f"header length {MAX_HEADER_BYTES + 1}", "limit")


def test_header_length_past_end_of_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    path.write_bytes(struct.pack("<Q", 1000) + b'{"__metadata__":{}}')
    _reject(path, "header length 1000 is larger than the 19 bytes that follow it")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"a": "\xff\xfe"}', "header is not UTF-8"),
        (b"{not json", "header is not valid JSON"),
        (b"", "header is not valid JSON"),
        (b"[1, 2]", "header is a JSON list, not a JSON object"),
        (b'{"__metadata__": {}, "__metadata__": {}}', "duplicate key '__metadata__'"),
    ],
)
def test_header_not_a_json_object(tmp_path: Path, raw: bytes, fragment: str) -> None:
    _reject(_craft(tmp_path / "bad.safetensors", raw), fragment)


class _Payload:
    """Unpickling this creates a file: proof that a reader executed the pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickle_is_refused_and_never_executed(tmp_path: Path, protocol: int) -> None:
    import pickle

    # The payload is live: unpickling a twin really creates its marker.
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(_Payload(control), protocol=protocol)).close()
    assert control.exists()

    marker = tmp_path / "marker"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"weight": _Payload(marker)}, protocol=protocol))
    _reject(path, "this looks like a pickle/torch.save file; zoo only reads safetensors and never unpickles")
    assert not marker.exists()


def test_torch_save_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    torch.save({"weight": torch.ones(3)}, path)
    assert zipfile.is_zipfile(path)
    _reject(path, "zip archive", "pickle/torch.save file", "never unpickles")


_F32x2 = 8  # bytes of a float32 tensor of shape [2]


@pytest.mark.parametrize(
    ("header", "data", "fragments"),
    [
        ({"w": _entry("F7", [2], 0, 8)}, bytes(8), ["tensor 'w' has unknown dtype 'F7'"]),
        ({"w": {"dtype": "F32", "shape": [2]}}, bytes(8), ["tensor 'w' has no 'data_offsets'"]),
        ({"w": [1, 2]}, b"", ["header entry for tensor 'w' is not a JSON object"]),
        ({"w": _entry("F32", [-2], 0, 8)}, bytes(8), ["tensor 'w' has shape [-2]", "non-negative ints"]),
        ({"w": _entry("F32", [2.0], 0, 8)}, bytes(8), ["shape [2.0]"]),
        ({"w": _entry("F32", [True, 2], 0, 8)}, bytes(8), ["shape [True, 2]"]),
        ({"w": _entry("F32", "2", 0, 8)}, bytes(8), ["shape '2'"]),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, bytes(8), ["data_offsets [0]"]),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 9]}}, bytes(8), ["[begin, end]"]),
        ({"w": _entry("F32", [2], 0, 8.0)}, bytes(8), ["data_offsets [0, 8.0]"]),
        ({"w": _entry("F32", [2], 8, 0)}, bytes(8), ["data_offsets [8, 0]", "0 <= begin <= end"]),
        ({"w": _entry("F32", [2], -8, 0)}, bytes(8), ["data_offsets [-8, 0]"]),
        (
            {"w": _entry("F32", [2, 3], 0, 8)},
            bytes(8),
            ["(8 bytes) but dtype F32 with shape [2, 3] needs 24"],
        ),
        (
            {"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 4, 12)},
            bytes(12),
            ["tensor 'b' (bytes 4..12) overlaps tensor 'a'"],
        ),
        (
            {"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 12, 20)},
            bytes(20),
            ["bytes 8..12 of the data area belong to no tensor", "before 'b'"],
        ),
        ({"w": _entry("F32", [2], 4, 12)}, bytes(12), ["bytes 0..4 of the data area belong to no tensor"]),
        (
            {"a": _entry("F32", [2], 0, 8), "b": _entry("I64", [4], 8, 40)},
            bytes(16),
            ["truncated", "describes 40 bytes", "only 16", "'b'"],
        ),
        (
            {"w": _entry("F32", [2], 0, 8)},
            bytes(12),
            ["4 bytes after the last tensor's data belong to no tensor"],
        ),
        (
            {"__metadata__": ["a"], "w": _entry("F32", [2], 0, 8)},
            bytes(8),
            ["__metadata__ is not a JSON object"],
        ),
        (
            {"__metadata__": {"epoch": 3}, "w": _entry("F32", [2], 0, 8)},
            bytes(8),
            ["__metadata__ must map strings to strings; 'epoch' holds a JSON int"],
        ),
    ],
)
def test_bad_headers_are_refused(tmp_path: Path, header: dict[str, Any], data: bytes, fragments: list[str]) -> None:
    _reject(_craft(tmp_path / "bad.safetensors", header, data), *fragments)


def test_header_that_lies_about_offsets(tmp_path: Path) -> None:
    # Both tensors claim the same bytes: each one's size is right, but the layout is a lie.
    path = _craft(
        tmp_path / "liar.safetensors",
        {"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 0, 8)},
        struct.pack("<2f", 1.0, 2.0),
    )
    _reject(path, "overlaps tensor")


def test_truncated_real_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    write_safetensors(path, {"a": torch.ones(10), "b": torch.arange(10)}, {"epoch": "1"})
    entries, _ = read_header(path)
    last = max(entries, key=lambda name: entries[name]["data_offsets"][1])  # the library picks the order
    raw = path.read_bytes()
    path.write_bytes(raw[:-5])
    _reject(path, "file is truncated", repr(last))


def test_a_valid_handmade_file_is_accepted(tmp_path: Path) -> None:
    # Guards the rejection cases: the same crafting with a correct layout loads fine.
    path = _craft(
        tmp_path / "ok.safetensors",
        {"__metadata__": {"k": "v"}, "b": _entry("I8", [1], 8, 9), "a": _entry("F32", [2], 0, 8)},
        struct.pack("<2fb", 1.0, 2.0, -3),
    )
    tensors, meta = read_safetensors(path)
    assert meta == {"k": "v"}
    assert torch.equal(tensors["a"], torch.tensor([1.0, 2.0]))
    assert torch.equal(tensors["b"], torch.tensor([-3], dtype=torch.int8))


def test_library_errors_become_checkpoint_errors(tmp_path: Path) -> None:
    path = tmp_path / "ok.safetensors"
    write_safetensors(path, {"a": torch.ones(2)}, {})
    with pytest.raises(CheckpointError) as caught:
        read_safetensors(path, device="no-such-device")
    assert str(path) in str(caught.value)
    assert "cannot load tensors" in str(caught.value)


def test_module_never_unpickles() -> None:
    source = Path(safefile.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|from)\s+(c?pickle|dill|joblib)\b", source, re.MULTILINE)
    assert "torch.load" not in source
    assert "weights_only" not in source


# --------------------------------------------------------------------------- accelerator


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_tensors_are_written_from_cpu_and_loaded_onto_cuda(tmp_path: Path) -> None:
    path = tmp_path / "gpu.safetensors"
    original = torch.randn(64, 32, device="cuda", dtype=torch.bfloat16)
    write_safetensors(path, {"w": original.t()}, {"device": "cuda"})
    on_cpu, _ = read_safetensors(path)
    assert on_cpu["w"].device.type == "cpu" and torch.equal(on_cpu["w"], original.t().cpu())
    on_gpu, _ = read_safetensors(path, device="cuda")
    assert on_gpu["w"].device.type == "cuda" and torch.equal(on_gpu["w"], original.t())
