"""MNIST for zoo: finding or downloading the files, and the two data paths.

The fast path (``--loader fast``, the default) decodes the four IDX files once into
uint8 tensors; the trainer moves them to the device once and slices batches, and
``normalize`` turns each batch into floats on the device. The torchvision path
(``--loader torchvision``) is the notes' way: ``torchvision.datasets.MNIST`` with
ToTensor + Normalize behind a ``DataLoader``, one PIL image per sample. Both read
the same files and see the same batches for the same seed, so they can be timed
against each other. ``--data DIR`` reads the user's own pictures instead (``folder.py``).

Files go only where MNIST's belong, ``<data-dir>/MNIST/raw``, and only by a download
that is allowed: a data folder that holds the user's class folders is refused first,
and the folders a failed download made are removed again.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from zoo.plugin import Batch, DataBundle, DataError, DataRequest, LoaderSplit, TensorSplit, UsageError
from zoo_vision.facts import (
    MEAN,
    MNIST_FILES,
    NUM_CLASSES,
    SIDE,
    STD,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    digit_names,
)
from zoo_vision.folder import holds_class_folders, load_folder
from zoo_vision.idx import decode_images, decode_labels, inflated_pieces

LOADERS = ("fast", "torchvision")
FILES = MNIST_FILES
ELSEWHERE = "--data-dir or ZOO_DATA_DIR picks another data folder; --mirror URL another server"
#: Seconds a download may wait on a silent server before the next mirror is tried.
DOWNLOAD_TIMEOUT = 60.0


def raw_folder(data_dir: Path) -> Path:
    """Where torchvision keeps MNIST's files: ``<data_dir>/MNIST/raw``."""
    return Path(data_dir) / "MNIST" / "raw"


def normalize(x: torch.Tensor, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """uint8 pixels -> float32 ``(x / 255 - mean) / std``, exactly as ToTensor + Normalize compute it.

    Float input is returned unchanged: it is already normalized, so applying the
    transform to a batch twice can never normalize it twice.
    """
    if x.dtype != torch.uint8:
        return x
    out = x.to(torch.float32).div(255)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=out.device)
    std_t = torch.tensor(std, dtype=torch.float32, device=out.device)
    return out.sub_(mean_t).div_(std_t)


def locate(raw: Path) -> dict[str, Path | None]:
    """Each of the four files, plain or gzipped (the plain one wins), or None when absent.

    Anything present under the name counts (a folder, a pipe, a broken link), so that reading
    it names what it really is instead of calling it missing.
    """
    found: dict[str, Path | None] = {}
    for name in FILES:
        plain, packed = raw / name, raw / f"{name}.gz"
        found[name] = plain if os.path.lexists(plain) else packed if os.path.lexists(packed) else None
    return found


def find_files(request: DataRequest, mirror: str = "") -> dict[str, Path]:
    """The four files, downloaded through torchvision first when some are missing and that is allowed."""
    raw = raw_folder(request.data_dir)
    found = locate(raw)
    if all(found.values()):
        return {k: v for k, v in found.items() if v is not None}
    if not any(found.values()) and holds_class_folders(Path(request.data_dir)):
        raise UsageError(
            f"{request.data_dir} holds folders of pictures, not MNIST's files",
            hint=f"use --data DIR for your own images: zoo train MODEL --data {request.data_dir}",
        )
    if not request.download:
        reason = "downloading is turned off"
    else:
        reason = _download_or_tidy(Path(request.data_dir), raw, mirror) or "the download did not bring them"
        found = locate(raw)
        if all(found.values()):
            return {k: v for k, v in found.items() if v is not None}
    missing = [name for name, path in found.items() if path is None]
    what = "MNIST is missing"
    if len(missing) < len(FILES):
        what = f"MNIST is incomplete, missing: {', '.join(missing)}"
    raise DataError(
        f"{what}. Put the four files {', '.join(FILES)} (plain or .gz) in {raw}",
        path=raw,
        hint=f"{reason}.\n  {ELSEWHERE}",
    )


def _download_or_tidy(data_dir: Path, raw: Path, mirror: str) -> str:
    """``download``; when it fails, the folders it created are removed (they hold only its partial files)."""
    created = next((p for p in (data_dir, raw.parent, raw) if not os.path.lexists(p)), None)
    reason = download(data_dir, mirror)
    if reason and created is not None and os.path.isdir(created) and not os.path.islink(created):
        shutil.rmtree(created, ignore_errors=True)
    return reason


def download(data_dir: Path, mirror: str = "") -> str:
    """Fetch MNIST with torchvision into ``data_dir/MNIST/raw``; return why it failed ('' on success).

    ``mirror`` (an http or https URL) replaces torchvision's mirrors; the files are
    still checked against torchvision's md5 sums.
    """
    from torchvision.datasets import MNIST

    source: type[MNIST] = MNIST
    if mirror:
        # Same class name, so torchvision keeps its MNIST/raw layout.
        source = type("MNIST", (MNIST,), {"mirrors": [_mirror_url(mirror)]})
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT):
            source(root=str(data_dir), train=False, download=True)
    except Exception as exc:  # whatever went wrong on the way, the user gets the files to fetch by hand
        details = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or "no details"
        if len(details) > 400:
            details = details[:400] + "..."
        return f"download failed ({type(exc).__name__}): {details}"
    return ""


def _mirror_url(mirror: str) -> str:
    if not mirror.startswith(("http://", "https://")):
        raise UsageError(
            f"--mirror must be an http:// or https:// URL, got {mirror!r}",
            hint="files you already have go straight into <data-dir>/MNIST/raw",
        )
    return mirror if mirror.endswith("/") else mirror + "/"


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def read_split(files: dict[str, Path], train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, 28, 28) uint8 and labels (N,) int64 of one split, checked against each other."""
    images_file = files[TRAIN_IMAGES if train else TEST_IMAGES]
    labels_file = files[TRAIN_LABELS if train else TEST_LABELS]
    images = decode_images(images_file)
    labels = decode_labels(labels_file)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"holds {images.shape[0]} images but {labels_file.name} holds {labels.shape[0]} labels",
            path=images_file,
            hint="the two files come from different sets or one is damaged; replace both",
        )
    if images.shape[0] == 0:
        raise DataError("holds no images", path=images_file)
    return images, labels


def _ensure_plain(files: dict[str, Path]) -> None:
    """torchvision reads only the unpacked files: unpack any that exist only as .gz."""
    for path in files.values():
        if path.suffix != ".gz":
            continue
        target = path.with_suffix("")
        tmp = target.with_name(target.name + ".partial")
        try:
            with open(tmp, "wb") as dst:  # piece by piece, never past the size the header announces
                for piece in inflated_pieces(path):
                    dst.write(piece)
            os.replace(tmp, target)
        except DataError:
            tmp.unlink(missing_ok=True)
            raise
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise DataError(
                f"cannot unpack it next to itself for the torchvision loader: {exc}",
                path=path,
                hint="unpack it yourself (gunzip -k), or use --loader fast, which reads .gz directly",
            ) from None


def _options(request: DataRequest) -> tuple[str, int, str]:
    options = request.options
    loader = str(options.get("loader") or "fast")
    if loader not in LOADERS:
        raise UsageError(f"--loader must be one of {', '.join(LOADERS)}, got {loader!r}")
    workers = options.get("workers", 0)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise UsageError(f"--workers must be an integer >= 0, got {workers!r}")
    mirror = str(options.get("mirror") or "")
    if mirror:
        _mirror_url(mirror)  # a bad URL is a mistake even when no download is needed
    if options.get("data") and loader != "fast":
        raise UsageError(
            f"--loader {loader} reads MNIST's files only; pictures from --data are always held as tensors",
            hint="leave out --loader",
        )
    return loader, workers, mirror


def load(request: DataRequest) -> DataBundle:
    """MNIST's official split: 60000 training images, the 10000 test images as ``val``; or ``--data DIR``."""
    loader, workers, mirror = _options(request)
    if request.options.get("data"):
        return load_folder(request, str(request.options["data"]), normalize)
    files = find_files(request, mirror)
    train_x, train_y = read_split(files, train=True)
    test_x, test_y = read_split(files, train=False)
    meta: dict[str, Any] = {"mean": MEAN, "std": STD, "image_size": SIDE, "classes": digit_names()}
    common: dict[str, Any] = {
        "meta": meta,
        "config": {"num_classes": NUM_CLASSES},
        "num_classes": NUM_CLASSES,
    }
    where = raw_folder(request.data_dir)
    if loader == "fast":
        return DataBundle(
            train=TensorSplit(train_x, train_y),
            val=TensorSplit(test_x, test_y),
            transform=normalize,
            description=f"MNIST from {where}: {len(train_y)} train / {len(test_y)} test, uint8 on the device",
            **common,
        )
    _ensure_plain(files)
    return DataBundle(
        train=torchvision_split(Path(request.data_dir), train=True, workers=workers),
        val=torchvision_split(Path(request.data_dir), train=False, workers=workers),
        transform=None,  # the DataLoader's batches are already normalized
        description=f"MNIST from {where}: {len(train_y)} train / {len(test_y)} test, torchvision DataLoader",
        **common,
    )


def torchvision_split(data_dir: Path, train: bool, workers: int = 0) -> LoaderSplit:
    """``torchvision.datasets.MNIST`` with ToTensor + Normalize, served batch by batch by a DataLoader."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    dataset = datasets.MNIST(root=str(data_dir), train=train, transform=transform, download=False)

    def make(batches: Sequence[torch.Tensor]) -> Iterable[Batch]:
        sampler = [b.tolist() for b in batches]
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers)

    return LoaderSplit(make=make, length=len(dataset))


def load_sample(request: DataRequest) -> DataBundle:
    """A few seeded random 28x28 digits shaped like MNIST, for checks that must not download."""
    generator = torch.Generator().manual_seed(request.seed)
    images = torch.randint(0, 256, (32, 1, SIDE, SIDE), dtype=torch.uint8, generator=generator)
    labels = torch.arange(32) % NUM_CLASSES
    meta: dict[str, Any] = {"mean": MEAN, "std": STD, "image_size": SIDE, "classes": digit_names()}
    return DataBundle(
        train=TensorSplit(images[:24], labels[:24]),
        val=TensorSplit(images[24:], labels[24:]),
        transform=normalize,
        meta=meta,
        config={"num_classes": NUM_CLASSES},
        num_classes=NUM_CLASSES,
        description="32 random images shaped like MNIST (a sample for checks)",
    )
