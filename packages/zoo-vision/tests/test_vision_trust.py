"""Trust regressions for zoo-vision: checkpoint metadata never picks a server or a folder;
configs contradicting the data and FIFOs as images are refused; IDX files are read only when
regular, and inflated no further than their header announces."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from vision_testkit import Cli, write_mnist
from zoo.plugin import NOT_REGULAR_FILES, DataError, DataRequest, not_regular_file
from zoo_vision import mnist
from zoo_vision.idx import decode_images

PROXIES = (
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
)


@pytest.fixture(scope="module")
def fc_run(cli: Cli, mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fc")
    cli("train", "vision.fc", "--epochs", "1", "--device", "cpu", "--quiet", "--out", "run",
            cwd=work, data_dir=mnist_dir, timeout=300)  # fmt: skip
    return work / "run"


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", hits
    server.shutdown()
    server.server_close()


def zoo_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS") and k not in PROXIES
    }
    env.update(ZOO_LOAD_PLUGINS="vision", ZOO_DATA_DIR=str(data_dir), OMP_NUM_THREADS="1", **extra)
    return env


@pytest.mark.parametrize("how", ["offline", "no-download"])
def test_metadata_mirror_and_data_dir_are_never_used(
    fc_run: Path, tmp_path: Path, counting_server: tuple[str, list[str]], how: str
):
    url, hits = counting_server
    target = tmp_path / "target"
    target.mkdir()
    src = fc_run / "best.safetensors"
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
    options = {**json.loads(meta.get("data_options", "{}")), "mirror": url, "data_dir": str(target)}
    ckpt = tmp_path / "evil.safetensors"
    save_file(load_file(str(src)), str(ckpt), metadata={**meta, "data_options": json.dumps(options)})
    empty = tmp_path / "empty"
    empty.mkdir()
    extra = {"ZOO_OFFLINE": "1"} if how == "offline" else {}
    args = ["eval", str(ckpt)] + (["--no-download"] if how == "no-download" else [])
    proc = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                          env=zoo_env(empty, **extra), cwd=tmp_path, timeout=120)  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "MNIST" in proc.stderr
    assert hits == []
    assert list(target.iterdir()) == []
    assert not [p for p in empty.rglob("*") if p.is_file()]


def test_num_classes_contradicting_the_data_is_a_usage_error(cli: Cli, mnist_dir: Path, tmp_path: Path):
    proc = cli("train", "vision.fc", "--num-classes", "3", "--epochs", "1", "--device", "cpu", "--quiet",
                   cwd=tmp_path, data_dir=mnist_dir, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "class" in proc.stderr


def test_fifo_as_an_image_is_refused_quickly(cli: Cli, fc_run: Path, tmp_path: Path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    proc = cli("predict", str(fc_run / "best.safetensors"), str(fifo), cwd=tmp_path, check=False, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pipe.png" in proc.stderr and "Traceback" not in proc.stderr


# -- IDX files: regular files only, never inflated past what their header announces -------------
def _mnist_raw(tmp_path: Path) -> Path:
    return write_mnist(tmp_path, n_train=16, n_test=8)


def _fast(data_dir: Path, loader: str = "fast") -> object:
    """MNIST from ``data_dir`` through the fast path, without downloading."""
    return mnist.load(DataRequest({"loader": loader, "workers": 0, "mirror": ""}, data_dir, 0, False))


def test_idx_gzip_bomb_stops_at_the_size_its_header_announces(tmp_path: Path):
    header = struct.pack(">HBBIII", 0, 8, 3, 10, 28, 28)
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip.compress(header + bytes(64 << 20), compresslevel=9))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DataError) as info:
        decode_images(bomb)
    assert str(info.value).startswith(
        f"{bomb}: inflates to more than the 7856 bytes its IDX header announces"
    )
    huge = tmp_path / "t10k-images-idx3-ubyte.gz"
    huge.write_bytes(gzip.compress(struct.pack(">HBBIII", 0, 8, 3, 4_000_000_000, 28, 28)))
    with pytest.raises(
        DataError, match=r"announces 4000000000 items \(3136000000016 bytes\), more than the 1024 MiB"
    ):
        decode_images(huge)


def test_unpacking_for_torchvision_is_bounded_and_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    raw = _mnist_raw(tmp_path)
    plain = raw / "train-images-idx3-ubyte"
    packed = raw / "train-images-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes() + bytes(8 << 20)))
    plain.unlink()
    # the fast path reads it first and refuses it; unpacking on its own is bounded the same way
    with pytest.raises(DataError, match="its IDX header announces"):
        mnist._ensure_plain({"train-images-idx3-ubyte": packed})
    assert sorted(p.name for p in raw.iterdir() if p.name.startswith("train-images")) == [packed.name]


SPARSE = ("sparse", "is not an IDX image file: magic number 0x00000000")


@pytest.mark.parametrize(("kind", "expected"), [*NOT_REGULAR_FILES[:3], SPARSE])
def test_odd_idx_files_are_named_for_what_they_are(tmp_path: Path, kind: str, expected: str):
    raw = _mnist_raw(tmp_path)
    target = raw / "train-images-idx3-ubyte"
    target.unlink()
    if kind == SPARSE[0]:
        with open(target, "wb") as handle:
            handle.truncate(1 << 30)
    else:
        not_regular_file(target, kind)
    with pytest.raises(DataError) as info:
        _fast(tmp_path)
    assert str(info.value).startswith(f"{target}: {expected}")
