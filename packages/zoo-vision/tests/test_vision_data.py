"""Loading MNIST: both data paths, .gz files, missing files, downloads from a local server."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import torch

from vision_testkit import FILES, make_split, write_mnist
from zoo.plugin import DataError, DataRequest, LoaderSplit, TensorSplit, UsageError
from zoo_vision import mnist

ALL_FILES = [name for pair in FILES.values() for name in pair]


def request(data_dir: Path, download: bool = False, seed: int = 0, **options: object) -> DataRequest:
    return DataRequest({"loader": "fast", "workers": 0, "mirror": "", **options}, data_dir, seed, download)


def test_fast_path_holds_uint8_and_normalizes_on_the_fly(mnist_dir: Path) -> None:
    bundle = mnist.load(request(mnist_dir))
    assert isinstance(bundle.train, TensorSplit) and isinstance(bundle.val, TensorSplit)
    assert bundle.train.x.dtype == torch.uint8 and bundle.train.x.shape == (64, 1, 28, 28)
    assert bundle.train.y.dtype == torch.int64 and bundle.val.x.shape == (32, 1, 28, 28)
    expected_x, expected_y = make_split(64, 0)
    assert torch.equal(bundle.train.x[:, 0], expected_x) and torch.equal(bundle.train.y, expected_y)
    assert bundle.num_classes == 10 and bundle.config == {"num_classes": 10}
    assert bundle.meta["mean"] == 0.1307 and bundle.meta["std"] == 0.3081
    assert bundle.transform is not None
    batch = bundle.transform(bundle.train.x[:8])
    assert batch.dtype == torch.float32
    assert torch.allclose(batch, (bundle.train.x[:8].float() / 255 - 0.1307) / 0.3081, atol=1e-6)
    # a batch that is already float is left alone: the transform can never apply twice
    assert bundle.transform(batch) is batch


def _same_batches(data_dir: Path, seed: int) -> None:
    fast = mnist.load(request(data_dir, loader="fast", seed=seed))
    slow = mnist.load(request(data_dir, loader="torchvision", seed=seed))
    assert isinstance(slow.train, LoaderSplit) and isinstance(slow.val, LoaderSplit)
    assert slow.transform is None  # the DataLoader already normalizes: nothing may do it again
    assert fast.transform is not None
    assert isinstance(fast.train, TensorSplit) and isinstance(fast.val, TensorSplit)
    assert len(slow.train) == len(fast.train) == 64 and len(slow.val) == len(fast.val) == 32
    generator = torch.Generator().manual_seed(seed)
    for split_fast, split_slow, n in ((fast.train, slow.train, 64), (fast.val, slow.val, 32)):
        assert isinstance(split_fast, TensorSplit) and isinstance(split_slow, LoaderSplit)
        batches = list(torch.randperm(n, generator=generator).split(10))
        served = list(split_slow.make(batches))
        assert len(served) == len(batches)
        for idx, (x_slow, y_slow) in zip(batches, served, strict=True):
            x_fast = fast.transform(split_fast.x[idx])
            assert x_slow.shape == x_fast.shape == (len(idx), 1, 28, 28)
            assert torch.allclose(x_slow, x_fast, atol=1e-6, rtol=0)
            assert torch.equal(y_slow, split_fast.y[idx])


def test_both_paths_give_the_same_batches(mnist_dir: Path) -> None:
    _same_batches(mnist_dir, seed=3)


def test_gz_files_work_on_both_paths(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path, n_train=64, n_test=32, gz=True)
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{n}.gz" for n in ALL_FILES)
    _same_batches(tmp_path, seed=1)
    # torchvision reads only unpacked files, so its path unpacked them next to the .gz
    assert all((raw / name).is_file() for name in ALL_FILES)


def test_missing_files_offline_name_the_folder_and_the_files(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError) as info:
        mnist.load(request(tmp_path, download=False))
    text = str(info.value)
    assert str(raw) in text
    assert "incomplete, missing: t10k-labels-idx1-ubyte." in text
    for name in ALL_FILES:
        assert name in text
    assert "plain or .gz" in text and "downloading is turned off" in text


def test_corrupt_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path)
    target = raw / "train-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:5000])
    for loader in ("fast", "torchvision"):
        with pytest.raises(DataError, match="truncated") as info:
            mnist.load(request(tmp_path, loader=loader))
        assert str(target) in str(info.value)


def test_images_and_labels_must_agree(tmp_path: Path) -> None:
    raw = write_mnist(tmp_path)
    other = tmp_path / "other"
    write_mnist(other, n_train=60)
    shutil.copy(other / "MNIST" / "raw" / "train-labels-idx1-ubyte", raw / "train-labels-idx1-ubyte")
    with pytest.raises(DataError, match="64 images but train-labels-idx1-ubyte holds 60 labels"):
        mnist.load(request(tmp_path))


def test_bad_options_are_usage_errors(mnist_dir: Path) -> None:
    with pytest.raises(UsageError, match="--loader must be one of fast, torchvision"):
        mnist.load(request(mnist_dir, loader="pil"))
    with pytest.raises(UsageError, match="--workers"):
        mnist.load(request(mnist_dir, workers=-1))


# -- downloads, without the internet -------------------------------------------------------------
@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str], Path]]:
    """A local HTTP server holding the tiny set as .gz files; torchvision's mirrors and md5s point at it."""
    from torchvision.datasets import MNIST

    source = tmp_path / "source"
    raw = write_mnist(source, gz=True)
    resources = [(f"{n}.gz", hashlib.md5((raw / f"{n}.gz").read_bytes()).hexdigest()) for n in ALL_FILES]
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep the test output quiet
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(raw)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(MNIST, "mirrors", [url])
    monkeypatch.setattr(MNIST, "resources", resources)
    try:
        yield url, requests, raw
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_through_torchvision_from_a_local_server(
    tmp_path: Path, served: tuple[str, list[str], Path]
) -> None:
    _, requests, _ = served
    data_dir = tmp_path / "fresh"
    bundle = mnist.load(request(data_dir, download=True))
    assert {Path(p).name for p in requests} == {f"{n}.gz" for n in ALL_FILES}
    raw = mnist.raw_folder(data_dir)
    for name in ALL_FILES:  # torchvision's layout: the .gz and the unpacked file
        assert (raw / f"{name}.gz").is_file() and (raw / name).is_file()
    assert isinstance(bundle.train, TensorSplit)
    expected_x, expected_y = make_split(64, 0)
    assert torch.equal(bundle.train.x[:, 0], expected_x) and torch.equal(bundle.train.y, expected_y)
    # a second load finds the files and asks the server for nothing
    count = len(requests)
    mnist.load(request(data_dir, download=True, loader="torchvision"))
    assert len(requests) == count


def test_download_with_a_bad_checksum_is_a_clear_error(
    tmp_path: Path, served: tuple[str, list[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.datasets import MNIST

    _, requests, _ = served
    broken = [(name, "0" * 32) for name, _ in MNIST.resources]
    monkeypatch.setattr(MNIST, "resources", broken)
    with pytest.raises(DataError) as info:
        mnist.load(request(tmp_path / "fresh", download=True))
    text = str(info.value)
    assert "download failed" in text and str(mnist.raw_folder(tmp_path / "fresh")) in text
    assert requests  # it did try


def test_mirror_must_be_a_url(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--mirror must be an http"):
        mnist.load(request(tmp_path, download=True, mirror=str(tmp_path)))


def test_unreachable_mirror_gives_the_offline_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with pytest.raises(DataError) as info:
        mnist.load(request(tmp_path, download=True, mirror=f"http://127.0.0.1:{port}"))
    text = str(info.value)
    assert "download failed" in text and "train-images-idx3-ubyte" in text
    assert str(mnist.raw_folder(tmp_path)) in text
