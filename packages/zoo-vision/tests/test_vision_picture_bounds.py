"""Pictures decoded within a budget: scans, declared size before draft, icons, decoder exceptions,
CPU time, unreadable files under --skip-bad-images, and the class-folder count."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from picture_bombs import icon, jpeg_declaring, progressive_jpeg, saved
from PIL import Image

from vision_testkit import Cli, make_folder
from zoo.plugin import DataError
from zoo_vision import folder, images, pictures
from zoo_vision.images import decode_gray, read_image_file

#: Runs ``zoo ARGS`` under a CPU-time limit and prints the child's peak memory (KiB) last.
BOUNDED = (
    "import resource,subprocess,sys\n"
    "def limit():\n"
    "    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))\n"
    "r = subprocess.run(sys.argv[1:], preexec_fn=limit)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(r.returncode)\n"
)


def predict_bounded(cli: Cli, picture: Path, cwd: Path) -> tuple[int, str, float]:
    """``zoo predict vision.cnn PICTURE`` under a CPU limit: exit code, stderr, peak memory in MB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(ZOO_LOAD_PLUGINS="vision", ZOO_DATA_DIR=str(cwd / "data"), OMP_NUM_THREADS="2")
    zoo = [sys.executable, "-m", "zoo", "predict", "vision.cnn", str(picture)]
    command = [sys.executable, "-c", BOUNDED, *zoo]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    peak = float(proc.stdout.strip().splitlines()[-1]) / 1024
    return proc.returncode, proc.stderr, peak


@pytest.fixture(scope="module")
def baseline_peak(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> float:
    """Peak memory of predicting one small, good picture: what a refused picture may not add much to."""
    work = tmp_path_factory.mktemp("good")
    good = work / "good.png"
    Image.linear_gradient("L").resize((28, 28)).save(good)
    code, err, peak = predict_bounded(cli, good, work)
    assert code == 0, err
    return peak


def assert_refused(code: int, err: str, *phrases: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "data_meta" not in err, err
    for phrase in phrases:
        assert phrase in err, err


def test_progressive_jpeg_of_many_scans_is_refused_before_decoding(
    cli: Cli, tmp_path: Path, baseline_peak: float
) -> None:
    bomb = tmp_path / "scans.jpg"
    bomb.write_bytes(progressive_jpeg(2048, extra_scans=5000))
    code, err, peak = predict_bounded(cli, bomb, tmp_path)
    assert_refused(code, err, "scans.jpg", f"more than {pictures.MAX_SCANS} scans")
    assert peak < baseline_peak + 100
    ordinary = progressive_jpeg(2048)  # libjpeg's own progression: 6 scans, read as before
    assert pictures.jpeg_scans(ordinary, 100) == 6
    assert decode_gray(ordinary, "ordinary.jpg").size[0] <= images.DRAFT_SIDE


def test_declared_size_is_checked_before_draft_scales_it(
    cli: Cli, tmp_path: Path, baseline_peak: float
) -> None:
    big = tmp_path / "huge.jpg"
    big.write_bytes(jpeg_declaring(13376, 13376))
    assert big.stat().st_size < 2000
    code, err, peak = predict_bounded(cli, big, tmp_path)
    assert_refused(code, err, "huge.jpg", "13376 x 13376", "16,777,216 pixels")
    assert peak < baseline_peak + 100  # decoding at 1/8 would still have cost about 930 MB


@pytest.mark.parametrize("kind", ["ICO", "CUR"])
def test_icons_and_cursors_are_refused_by_format_without_decoding(
    cli: Cli, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"digit.{kind.lower()}"
    path.write_bytes(icon(kind))
    code, err, _ = predict_bounded(cli, path, tmp_path)
    assert_refused(code, err, path.name, f"{kind}, a format zoo-vision does not read")


@pytest.mark.parametrize("fmt", ["BLP", "DDS", "SPIDER", "JPEG2000", "PCX"])
def test_other_formats_never_reach_their_decoders_and_never_blame_the_checkpoint(
    cli: Cli, trained_cnn: Path, tmp_path: Path, fmt: str
) -> None:
    data = saved(fmt)
    assert data is not None
    path = tmp_path / "digit.bin"
    path.write_bytes(data)
    proc = cli("predict", str(trained_cnn / "best.safetensors"), str(path), cwd=tmp_path, check=False)
    assert_refused(proc.returncode, proc.stderr, "digit.bin", "is not an image we can read")
    assert str(trained_cnn) not in proc.stderr


def test_every_decode_has_a_cpu_time_budget() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (2048, 2048, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "PNG", compress_level=1)
    started = time.thread_time()
    with pytest.raises(DataError, match=r"noise.png: took more than 0.02 s of CPU time to decode"):
        decode_gray(out.getvalue(), "noise.png", seconds=0.02)
    assert time.thread_time() - started < 1.0  # stopped near the budget, not after the whole picture
    assert decode_gray(out.getvalue(), "noise.png").size == (2048, 2048)  # the default budget reads it


def test_a_read_with_no_data_ready_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "slow.png"
    path.write_bytes(b"\x89PNG")

    class NoData(io.FileIO):
        def read(self, size: int = -1) -> bytes | None:  # type: ignore[override]
            return None  # what a non-blocking read returns when no data is ready

    monkeypatch.setattr(images, "open_regular", lambda file, what, hint: NoData(os.fspath(file)))
    with pytest.raises(DataError, match="slow.png: cannot be read: no data was ready"):
        read_image_file(path)


def test_skip_bad_images_skips_files_whose_read_fails(cli: Cli, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pics", per_class=4)
    (root / "bar" / "eio.png").symlink_to("/proc/self/mem")  # a regular file whose read fails: EIO
    unreadable = root / "ring" / "denied.png"
    if os.geteuid() == 0:
        unreadable.symlink_to("/proc/sys/vm/compact_memory")  # write-only even for root: EACCES
    else:
        unreadable.write_bytes(b"x")
        unreadable.chmod(0)
    args = ("train", "vision.fc", "--data", str(root), "--epochs", "1", "--device", "cpu", "--out", "run")
    proc = cli(*args, cwd=tmp_path, check=False)
    assert_refused(proc.returncode, proc.stderr, "cannot be read", "--skip-bad-images true")
    proc = cli(*args, "--skip-bad-images", "true", cwd=tmp_path, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "skipped 2 unreadable file(s)" in proc.stdout + proc.stderr


def test_class_folders_are_capped_at_what_a_checkpoint_may_name(tmp_path: Path) -> None:
    for i in range(folder.MAX_CLASSES + 1):
        os.mkdir(tmp_path / f"c{i:06d}")
    started = time.monotonic()
    with pytest.raises(DataError, match=r"more than 100,000 class folders: more classes than a checkpoint"):
        folder.scan(tmp_path)
    assert time.monotonic() - started < 30


def test_class_folders_scan_in_linear_time(tmp_path: Path) -> None:
    classes = folder.MAX_CLASSES
    for i in range(classes):
        os.mkdir(tmp_path / f"c{i:06d}")
        (tmp_path / f"c{i:06d}" / "a.png").write_bytes(b"")
    started = time.monotonic()
    names, files, labels = folder.scan(tmp_path)
    _, val = folder.stratified_split(torch.tensor(labels), 0.5, seed=0)
    assert len(names) == len(files) == classes and labels[-1] == classes - 1 and len(val) == 0
    assert time.monotonic() - started < 60  # quadratic in the classes, this took more than 20 minutes
