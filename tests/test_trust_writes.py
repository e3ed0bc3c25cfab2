"""Checkpoints written and read under bounds: a failed save keeps the old file, hostile headers cost little.

``zoo.save`` over a good checkpoint with a new file that cannot be read back leaves the
good one in place, byte for byte. Headers that describe absurd numbers of tensors or
metadata keys, integers beyond 64 bits and labels longer than a checkpoint can hold are
one clear error each, within a CPU-time limit set on the process that reads them.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from serve_testkit import run_zoo, zoo_env

import zoo
from zoo.errors import ZooError

CNN = Path(__file__).resolve().parents[1] / "packages/zoo-vision/src/zoo_vision/weights/cnn-default.safetensors"
DIGIT = CNN.parents[1] / "examples" / "digit-0.png"


def limited(code: str, cwd: Path, cpu_seconds: int = 60, memory: int = 5 << 30) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter under CPU-time and address-space limits (torch alone maps ~3.2 GB)."""
    prelude = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_CPU, ({cpu_seconds}, {cpu_seconds}))
        resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
    """)
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=cwd,
        env=zoo_env(ZOO_DATA_DIR=str(cwd / "data"), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def nested(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(levels):
        value = {"x": value}
    return value


def test_a_save_that_cannot_be_read_back_keeps_the_old_file(tmp_path: Path) -> None:
    model = zoo.create("vision.cnn")
    path = zoo.save(model, tmp_path / "mine.safetensors", name="vision.cnn", classes=[str(i) for i in range(10)])
    before = path.read_bytes()
    with pytest.raises(ZooError, match="nested more than 32 levels") as caught:
        zoo.save(model, path, name="vision.cnn", data_meta={"deep": nested(40)})
    assert "unchanged" in caught.value.message and ".tmp-" not in caught.value.message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.safetensors"]  # no temporary file left
    assert zoo.load(path).metadata["data_meta"]["classes"][3] == "3"


def test_duplicate_classes_are_found_in_linear_time(tmp_path: Path) -> None:
    names = [f"class {i}" for i in range(100_000)]
    names[-1] = names[7]
    proc = limited(
        """
        import torch, zoo
        from zoo.errors import UsageError
        names = [f"class {i}" for i in range(100_000)]
        names[-1] = names[7]
        try:
            zoo.save(torch.nn.Linear(1, 1), "x.safetensors", name="tabular.linear", classes=names)
        except UsageError as exc:
            print(exc.message)
        """,
        tmp_path,
        cpu_seconds=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert "classes repeat 'class 7'" in proc.stdout


def raw_header(path: Path, tensors: int, keys: int) -> Path:
    header: dict[str, object] = {
        f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(tensors)
    }
    header["__metadata__"] = {f"k{i}": "v" for i in range(keys)}
    data = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(data)) + data)
    return path


@pytest.mark.parametrize(
    ("tensors", "keys", "phrase"),
    [(300_000, 1, "more than 100,000 tensors"), (1, 500_000, "500,000 keys"), (1, 20_000, "20,000 keys")],
)
def test_headers_with_absurd_counts_are_refused_cheaply(tmp_path: Path, tensors: int, keys: int, phrase: str) -> None:
    raw_header(tmp_path / "many.safetensors", tensors, keys)
    proc = limited(
        """
        from zoo.errors import CheckpointError
        from zoo.files.safefile import read_header
        try:
            read_header("many.safetensors")
        except CheckpointError as exc:
            print(exc.message)
        """,
        tmp_path,
        cpu_seconds=20,
    )
    assert proc.returncode == 0, proc.stderr
    assert phrase in proc.stdout and "limit" in proc.stdout


def with_config(src: Path, dst: Path, text: str) -> Path:
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
    meta["config"] = text
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


def test_a_long_integer_in_a_config_is_one_clear_error(tmp_path: Path) -> None:
    with safe_open(str(CNN), framework="pt") as fh:
        config = json.loads(fh.metadata()["config"])
    text = json.dumps(config)[:-1] + ', "hidden": ' + "9" * 3000 + "}"
    with_config(CNN, tmp_path / "long.safetensors", text)
    for command in (("info",), ("predict",)):
        args = [*command, "long.safetensors"]
        if command == ("predict",):
            args.append(str(DIGIT))
        proc = run_zoo(*args, cwd=tmp_path, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "metadata field 'config' holds the integer 999999999999999999999999..., beyond 64 bits" in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 2


def test_long_class_labels_are_refused_when_the_data_is_read(tmp_path: Path) -> None:
    labels = ["A" * 2_000 + str(i) for i in range(3)]
    rows = "".join(f"{i / 60},{labels[i % 3]}\n" for i in range(60))
    (tmp_path / "long.csv").write_text("x,y\n" + rows, encoding="utf-8")
    proc = run_zoo(
        "train", "tabular.classifier", "--data", "long.csv", "--target", "y", "--epochs", "1", "--out", "run",
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "target column 'y': label 1" in proc.stderr and "has 2,001 characters; the limit is 1,000" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


def test_a_checkpoint_whose_labels_are_too_long_is_refused_by_the_reader(tmp_path: Path) -> None:
    with safe_open(str(CNN), framework="pt") as fh:
        meta = dict(fh.metadata())
    data_meta = json.loads(meta["data_meta"])
    data_meta["classes"] = ["B" * 5_000] + [str(i) for i in range(1, 10)]
    meta["data_meta"] = json.dumps(data_meta)
    save_file(load_file(str(CNN)), str(tmp_path / "labels.safetensors"), metadata=meta)
    proc = run_zoo(
        "predict", "labels.safetensors", str(CNN.parents[1] / "examples" / "0.png"), cwd=tmp_path, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "data_meta.classes" in proc.stderr and "Traceback" not in proc.stderr
