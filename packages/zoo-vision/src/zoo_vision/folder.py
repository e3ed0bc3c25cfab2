"""The user's own pictures: a folder with one subfolder per class (torchvision's ImageFolder layout).

``--data DIR`` names the folder. Class names are the subfolders' names, sorted, so the
class count sizes the model's head and the names travel in the checkpoint. ``DIR/train``
with ``DIR/val`` (or ``DIR/test``) are the two splits; any other folder is split here,
stratified and seeded (``--val-fraction``). Every picture goes through
``images.prepare``, the framing predict uses, once per process: the 28x28 results are
kept in memory, so a second run in the same process (a tuning study) decodes nothing.

Nothing is ever written inside the folder. Hidden files and folders (``.name``) and
``__MACOSX`` are skipped; a file that is not a readable picture is an error naming it,
unless ``--skip-bad-images true``, which skips such files and says how many.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.plugin import MAX_LABELS, DataBundle, DataError, DataRequest, TensorSplit, UsageError
from zoo_vision.facts import MEAN, SIDE, STD
from zoo_vision.images import MAX_PIXELS, decode_gray, prepare, read_image_file

#: Most pictures one folder may hold (train and val together): 28x28 bytes each, about 780 MB.
MAX_IMAGES = 1_000_000
#: Most class folders: what a checkpoint may name (its reader refuses more labels).
MAX_CLASSES = MAX_LABELS
#: Names skipped besides hidden ones: what macOS and Windows leave in folders.
IGNORED = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
#: Subfolder names that make a folder a ready-made split.
TRAIN, VALS = "train", ("val", "test")
#: Seconds between progress lines while a large folder is decoded.
PROGRESS_EVERY = 5.0
#: File name endings of pictures, to recognize a folder of pictures given as ``--data-dir``.
PICTURE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
#: Folders decoded in this process, newest last, at most CACHED of them.
CACHED = 2
_cache: dict[tuple[Any, ...], tuple[torch.Tensor, list[str]]] = {}


@dataclass(frozen=True)
class FolderOptions:
    """The dataset options a folder of pictures reads, checked."""

    val_fraction: float
    skip_bad: bool
    max_pixels: int


def options(request: DataRequest) -> FolderOptions:
    opts = request.options
    fraction = opts.get("val_fraction", 0.2)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction < 1.0:
        raise UsageError(f"--val-fraction must be at least 0 and below 1, got {fraction!r}")
    pixels = opts.get("max_pixels", MAX_PIXELS)
    if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1:
        raise UsageError(f"--max-pixels must be a whole number of pixels >= 1, got {pixels!r}")
    return FolderOptions(float(fraction), bool(opts.get("skip_bad_images", False)), pixels)


def _visible(name: str) -> bool:
    return not name.startswith(".") and name not in IGNORED


def _class_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        what = "no such folder" if not folder.exists() else "is not a folder"
        raise DataError(
            what, path=folder, hint="--data names a folder with one subfolder of pictures per class"
        )
    found: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if _visible(entry.name) and entry.is_dir():
                found.append(Path(entry.path))
                if len(found) > MAX_CLASSES:
                    raise DataError(
                        f"holds more than {MAX_CLASSES:,} class folders: more classes than a checkpoint "
                        f"may name ({MAX_CLASSES:,})",
                        path=folder,
                        hint="group the pictures into fewer classes",
                    )
    return sorted(found, key=lambda p: p.name)


def _pictures(class_dir: Path, seen: int) -> list[Path]:
    """Every visible file under one class folder (subfolders too), in a stable order."""
    found: list[Path] = []
    for top, dirs, files in os.walk(class_dir):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        found.extend(Path(top) / f for f in sorted(files) if _visible(f))
        if seen + len(found) > MAX_IMAGES:
            raise DataError(
                f"holds more than {MAX_IMAGES:,} files: more than zoo-vision reads from one folder",
                path=class_dir.parent,
                hint="train on a part of the pictures, moved into a folder of their own",
            )
    return found


def scan(folder: Path, classes: list[str] | None = None) -> tuple[list[str], list[Path], list[int]]:
    """Class names, picture files and their class indices; ``classes`` fixes the names (a val split)."""
    class_dirs = _class_folders(folder)
    names = [d.name for d in class_dirs]
    if classes is None:
        if len(names) < 2:
            loose = any(_visible(e.name) and e.is_file() for e in os.scandir(folder))
            raise DataError(
                f"holds {len(names)} class folder(s); a classifier needs at least 2"
                + (" (pictures directly in it are not read)" if loose else ""),
                path=folder,
                hint="put each class's pictures in a subfolder named for it: DIR/cat/1.png, DIR/dog/2.png",
            )
        classes = names
    index = {name: i for i, name in enumerate(classes)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise DataError(
            f"has class folder {unknown[0]!r}, which the training pictures do not have",
            path=folder,
            hint=f"its classes must be among the training folder's: {_some(classes)}",
        )
    files: list[Path] = []
    labels: list[int] = []
    for class_dir in class_dirs:
        found = _pictures(class_dir, len(files))
        if not found:
            raise DataError(
                "holds no pictures", path=class_dir, hint="add pictures or remove the empty folder"
            )
        files.extend(found)
        labels.extend([index[class_dir.name]] * len(found))
    return classes, files, labels


def _some(names: list[str], shown: int = 10) -> str:
    """The first names of a list, and how many more there are."""
    more = f" and {len(names) - shown:,} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _signature(file: Path) -> tuple[int, int]:
    """Size and modification time: what tells a changed file (a broken link reads as -1, -1)."""
    try:
        info = os.stat(file)
    except OSError:
        return -1, -1
    return info.st_size, info.st_mtime_ns


def decode_all(files: list[Path], opts: FolderOptions, where: Path) -> tuple[torch.Tensor, list[str]]:
    """(N, 1, 28, 28) uint8 pixels of the readable pictures, and the files --skip-bad-images skipped."""
    key = (str(where), opts.max_pixels, opts.skip_bad, tuple(files), tuple(_signature(f) for f in files))
    if key in _cache:
        _cache[key] = _cache.pop(key)  # now the newest
        return _cache[key]
    raise_with = "--max-pixels N"
    out = torch.empty((len(files), 1, SIDE, SIDE), dtype=torch.uint8)
    bad: list[str] = []
    kept = 0
    started = last = time.monotonic()
    for i, file in enumerate(files):
        try:
            pixels = prepare(decode_gray(read_image_file(file), file, opts.max_pixels, raise_with)).pixels
        except DataError as exc:
            if not opts.skip_bad:
                fix = "remove the file" if "not an image" in exc.message or not exc.hint else exc.hint
                raise DataError(
                    exc.message, hint=f"{fix}; or skip every such file with --skip-bad-images true"
                ) from None
            bad.append(str(file))
            continue
        out[kept] = pixels
        kept += 1
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY:
            last = now
            rate = (i + 1) / (now - started)
            print(
                f"decoding pictures in {where}: {i + 1:,} of {len(files):,} ({rate:,.0f}/s)", file=sys.stderr
            )
    result = (out[:kept].clone() if kept < len(files) else out), bad
    _cache[key] = result
    while len(_cache) > CACHED:
        _cache.pop(next(iter(_cache)))
    return result


def _drop(labels: list[int], files: list[Path], bad: list[str]) -> list[int]:
    """The labels of the files that were decoded (bad ones skipped)."""
    skipped = set(bad)
    return [label for file, label in zip(files, labels, strict=True) if str(file) not in skipped]


def _empty_classes(y: torch.Tensor, classes: list[str], where: Path) -> None:
    counts = torch.bincount(y, minlength=len(classes)).tolist()
    empty = [name for name, n in zip(classes, counts, strict=True) if n == 0]
    if empty:
        raise DataError(
            f"class folder {empty[0]!r} has no readable pictures (every file in it was skipped)",
            path=where / empty[0],
            hint="add pictures to it or remove it",
        )


def stratified_split(y: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and val indices: each class gives about ``fraction`` of its pictures, keeping one to train.

    One stable sort groups the classes, so the cost is n log n in the pictures, whatever the classes.
    """
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    order = torch.argsort(y, stable=True)
    counts = torch.bincount(y).tolist() if len(y) else []
    start = 0
    for count in counts:
        members = order[start : start + count]
        start += count
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = min(round(len(members) * fraction), len(members) - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def held_out(
    x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int
) -> tuple[TensorSplit, TensorSplit | None, dict[str, Any]]:
    """Train and val splits of one folder (val None when none is held out) and the split as recorded.

    zoo-vision and zoo-timm split a folder without ``train/`` and ``val/`` the same way, so a
    run of either on the same folder and seed validates on the same pictures.
    """
    train_idx, val_idx = stratified_split(y, fraction, seed)
    train = TensorSplit(x[train_idx], y[train_idx])
    val = TensorSplit(x[val_idx], y[val_idx]) if len(val_idx) else None
    split: dict[str, Any] = {
        "train": len(train_idx),
        "val": len(val_idx),
        "val_fraction": fraction,
        "seed": seed,
    }
    return train, val, split


def _load(
    folder: Path, classes: list[str] | None, opts: FolderOptions
) -> tuple[list[str], torch.Tensor, torch.Tensor, list[str]]:
    classes, files, labels = scan(folder, classes)
    x, bad = decode_all(files, opts, folder)
    y = torch.tensor(_drop(labels, files, bad), dtype=torch.int64)
    return classes, x, y, bad


def load_folder(
    request: DataRequest, root: str | Path, normalize: Callable[[torch.Tensor], torch.Tensor]
) -> DataBundle:
    """The folder's pictures as a DataBundle: uint8 on the device, ``normalize`` batch by batch."""
    opts = options(request)
    root = Path(root)
    _class_folders(root)  # a missing folder is named before anything else
    val_dir = next((root / v for v in VALS if (root / v).is_dir()), None)
    val: TensorSplit | None
    if (root / TRAIN).is_dir() and val_dir is not None:
        classes, x, y, bad = _load(root / TRAIN, None, opts)
        _empty_classes(y, classes, root / TRAIN)
        _, vx, vy, vbad = _load(val_dir, classes, opts)
        bad += vbad
        train, val = TensorSplit(x, y), TensorSplit(vx, vy)
        how = f"{TRAIN}/ and {val_dir.name}/"
        split: dict[str, Any] = {"train": len(y), "val": len(vy), "from": how}
    else:
        classes, x, y, bad = _load(root, None, opts)
        _empty_classes(y, classes, root)
        train, val, split = held_out(x, y, opts.val_fraction, request.seed)
        how = f"val {opts.val_fraction:g} held out, stratified, seed {request.seed}"
    skipped = f"; skipped {len(bad)} unreadable file(s), first {bad[0]}" if bad else ""
    meta: dict[str, Any] = {
        "mean": MEAN,
        "std": STD,
        "image_size": SIDE,
        "classes": classes,
        "source": root.name,  # the folder's name only: a checkpoint carries no paths of this machine
        "split": {**split, "skipped": len(bad)},
    }
    return DataBundle(
        train=train,
        val=val,
        transform=normalize,
        meta=meta,
        config={"num_classes": len(classes)},
        num_classes=len(classes),
        description=f"{len(classes)} classes from {root} ({how}): {len(train)} train / "
        f"{len(val) if val else 0} val, framed to {SIDE}x{SIDE} uint8 on the device{skipped}",
    )


def holds_class_folders(folder: Path, look_at: int = 20) -> bool:
    """Whether ``folder`` looks like class subfolders of pictures (a few entries of each are looked at)."""
    try:
        subfolders = [Path(e.path) for e in os.scandir(folder) if _visible(e.name) and e.is_dir()][:look_at]
        for sub in subfolders:
            for n, entry in enumerate(os.scandir(sub)):
                if n >= look_at:
                    break
                if entry.is_file() and Path(entry.name).suffix.lower() in PICTURE_SUFFIXES:
                    return True
    except OSError:
        return False
    return False
