"""The user's own pictures (``--data DIR``): layouts, picture formats, limits, nothing written there."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vision_testkit import NAMES, draw_shape, make_folder, snapshot
from zoo.plugin import DataError, DataRequest, TensorSplit, UsageError
from zoo_vision import folder, mnist
from zoo_vision.images import digit_from, load_digit


def request(
    data: Path | str = "", seed: int = 0, download: bool = False, data_dir: Path | None = None, **opts: object
) -> DataRequest:
    """The request ``zoo train --data DATA`` makes (``data_dir`` stands for --data-dir)."""
    options = {"loader": "fast", "workers": 0, "mirror": "", "data": str(data), **opts}
    return DataRequest(options, data_dir or Path("/nonexistent-zoo-data"), seed, download)


def test_a_class_folder_of_many_formats_loads_sorted_stratified_and_untouched(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pics", per_class=10)
    (root / ".DS_Store").write_bytes(b"\0junk")
    (root / "bar" / ".hidden.png").write_bytes(b"not read")
    (root / "__MACOSX" / "bar").mkdir(parents=True)
    (root / "__MACOSX" / "bar" / "._000.png").write_bytes(b"resource fork")
    before = snapshot(root)
    bundle = mnist.load(request(root, val_fraction=0.2))
    assert snapshot(root) == before  # nothing written inside the user's folder
    assert bundle.meta["classes"] == list(NAMES)
    assert bundle.config == {"num_classes": 3} and bundle.num_classes == 3
    assert isinstance(bundle.train, TensorSplit) and isinstance(bundle.val, TensorSplit)
    assert bundle.train.x.dtype == torch.uint8 and bundle.train.x.shape[1:] == (1, 28, 28)
    assert len(bundle.train) == 24 and len(bundle.val) == 6
    assert torch.bincount(bundle.val.y).tolist() == [2, 2, 2]  # stratified
    assert bundle.meta["source"] == "pics" and bundle.meta["split"]["skipped"] == 0
    again = mnist.load(request(root, val_fraction=0.2))
    assert torch.equal(again.val.y, bundle.val.y) and torch.equal(again.train.x, bundle.train.x)  # seeded
    other = mnist.load(request(root, val_fraction=0.2, seed=1))
    assert not torch.equal(other.train.x, bundle.train.x)


def test_every_form_is_framed_by_the_one_preprocessing(tmp_path: Path) -> None:
    """Each stored picture is exactly what predict's reader makes of the same file."""
    root = make_folder(tmp_path / "pics", per_class=8, names=("ring",) + ("bar",))
    bundle = mnist.load(request(root, val_fraction=0.0))
    assert bundle.val is None
    files = sorted((root / "bar").iterdir()) + sorted((root / "ring").iterdir())
    for pixels, file in zip(bundle.train.x, files, strict=True):
        assert torch.equal(pixels, load_digit(file).pixels), file
    # the light-on-dark PNG and the dark-on-light JPEG of one class frame to nearly the same digit
    a, b = (load_digit(files[i]).pixels.float() for i in (0, 1))
    assert (a - b).abs().mean() < 40


def test_train_and_val_subfolders_are_the_splits(tmp_path: Path) -> None:
    root = tmp_path / "pics"
    make_folder(root / "train", per_class=6)
    make_folder(root / "val", per_class=2, names=("bar", "ring"))  # a class may be absent from val
    bundle = mnist.load(request(root))
    assert bundle.meta["classes"] == list(NAMES)
    assert len(bundle.train) == 18 and len(bundle.val) == 4
    assert sorted(set(bundle.val.y.tolist())) == [0, 2]  # indices of the training folder's names
    make_folder(root / "val", per_class=1, names=("bar", "ring", "star"))  # star: not in train
    with pytest.raises(DataError, match="class folder 'star', which the training pictures do not have"):
        mnist.load(request(root))


def test_test_subfolder_is_the_val_split_too(tmp_path: Path) -> None:
    root = tmp_path / "pics"
    make_folder(root / "train", per_class=3)
    make_folder(root / "test", per_class=1)
    bundle = mnist.load(request(root))
    assert len(bundle.val) == 3 and "train/ and test/" in bundle.description


def test_folder_mistakes_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        mnist.load(request(tmp_path / "nope"))
    one = make_folder(tmp_path / "one", names=("bar",))
    with pytest.raises(DataError, match="holds 1 class folder.*at least 2"):
        mnist.load(request(one))
    loose = tmp_path / "loose"
    loose.mkdir()
    draw_shape(0).save(loose / "a.png")
    with pytest.raises(DataError, match="pictures directly in it are not read"):
        mnist.load(request(loose))
    empty = make_folder(tmp_path / "empty")
    (empty / "zebra").mkdir()
    with pytest.raises(DataError, match="zebra: holds no pictures"):
        mnist.load(request(empty))
    with pytest.raises(UsageError, match="--loader torchvision reads MNIST's files only"):
        mnist.load(request(empty, loader="torchvision"))
    with pytest.raises(UsageError, match="--val-fraction"):
        mnist.load(request(empty, val_fraction=1.0))


def test_a_bad_file_is_named_or_skipped_and_counted(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pics", per_class=4)
    bad = root / "ring" / "notes.txt"
    bad.write_text("not a picture")
    cut = root / "bar" / "cut.png"
    cut.write_bytes((root / "bar" / "000.png").read_bytes()[:40])
    (root / "cross" / "gone.png").symlink_to(root / "nowhere.png")
    os.mkfifo(root / "cross" / "pipe.png")  # would block a plain open(): refused without reading
    with pytest.raises(DataError, match="is not an image") as info:
        mnist.load(request(root))
    assert str(cut) in str(info.value) and "--skip-bad-images true" in str(info.value)
    bundle = mnist.load(request(root, skip_bad_images=True, val_fraction=0.0))
    assert len(bundle.train) == 12 and bundle.meta["split"]["skipped"] == 4
    assert "skipped 4 unreadable file(s)" in bundle.description
    for f in (root / "cross").iterdir():
        if f.is_file() and not f.is_symlink():
            f.write_text("text")
    with pytest.raises(DataError, match="class folder 'cross' has no readable pictures"):
        mnist.load(request(root, skip_bad_images=True))


def test_limits_name_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_folder(tmp_path / "pics", per_class=2)
    Image.new("L", (300, 200), 0).save(root / "bar" / "big.png")
    with pytest.raises(
        DataError, match=r"300 x 200 = 60,000 pixels, over the limit of 50,000 pixels"
    ) as info:
        mnist.load(request(root, max_pixels=50_000))
    assert "--max-pixels N" in str(info.value)
    assert len(mnist.load(request(root, max_pixels=60_000, val_fraction=0.0)).train) == 7
    monkeypatch.setenv("ZOO_MAX_FILE_MB", "0.0001")  # about 100 bytes
    with pytest.raises(DataError, match="is larger than the 104 bytes limit for an image") as info:
        mnist.load(request(root, val_fraction=0.0))
    assert "ZOO_MAX_FILE_MB" in str(info.value)
    monkeypatch.delenv("ZOO_MAX_FILE_MB")
    monkeypatch.setattr(folder, "MAX_IMAGES", 5)
    with pytest.raises(DataError, match="holds more than 5 files"):
        mnist.load(request(root))


def test_a_changed_file_is_decoded_again(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pics", per_class=2)
    first = mnist.load(request(root, val_fraction=0.0))
    target = sorted((root / "ring").iterdir())[0]
    draw_shape(1, size=60).save(target, format="PNG")
    os.utime(target, ns=(1, 1))
    second = mnist.load(request(root, val_fraction=0.0))
    assert not torch.equal(first.train.x, second.train.x)


def test_data_dir_that_holds_class_folders_is_refused_and_left_alone(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "my_pngs", per_class=1)
    before = snapshot(root)
    for download in (False, True):  # refused before any download is tried
        with pytest.raises(UsageError, match="holds folders of pictures, not MNIST's files") as info:
            mnist.load(request("", data_dir=root, download=download))
        assert "use --data DIR for your own images" in str(info.value)
    assert snapshot(root) == before


def test_a_failed_download_leaves_no_folders_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="download failed"):
        mnist.load(request("", data_dir=data_dir, download=True, mirror=f"http://127.0.0.1:{port}"))
    assert sorted(p.name for p in data_dir.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "make",
    [
        lambda img: img,
        lambda img: img.convert("RGBA"),
        lambda img: np.asarray(img),
        lambda img: np.asarray(img.convert("RGB")),
        lambda img: torch.from_numpy(np.asarray(img).copy()),
        lambda img: torch.from_numpy(np.asarray(img).copy()).float().div(255).unsqueeze(0),
        lambda img: torch.from_numpy(np.asarray(img.convert("RGB")).copy()).permute(2, 0, 1),
    ],
)
def test_in_memory_pictures_take_the_same_path_as_files(tmp_path: Path, make) -> None:
    img = draw_shape(3, size=90, stroke=3, ink=0, paper=255)
    img.save(tmp_path / "x.png")
    expected = load_digit(tmp_path / "x.png")
    digit = digit_from(make(img))
    assert torch.equal(digit.pixels, expected.pixels) and digit.inverted
    assert torch.equal(digit_from((tmp_path / "x.png").read_bytes()).pixels, expected.pixels)


def test_in_memory_mistakes_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="shape"):
        digit_from(torch.zeros(2, 3, 4, 5))
    with pytest.raises(UsageError, match="outside 0..255"):
        digit_from(torch.full((28, 28), -0.4))
    with pytest.raises(UsageError, match="not a picture"):
        digit_from(3.5)
    with pytest.raises(DataError, match="too large"):
        digit_from(Image.new("L", (5000, 5000)))
