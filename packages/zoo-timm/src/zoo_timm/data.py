"""Pictures for a timm model: a folder of class folders, decoded once at the weights' input size.

The folder is read as zoo-vision reads one (``zoo_vision.folder.scan``: class folders,
hidden files skipped, ``DIR/train`` + ``DIR/val`` or a stratified seeded split), but each
picture is decoded in colour by zoo-vision's bounded decoder and resized and cropped by
``Preprocess`` into uint8 ``(3, S, S)``; normalization runs batch by batch on the device.
The decoded pictures must fit ``--memory-mb``, checked from the file count before decoding.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from zoo.plugin import DataBundle, DataError, DataRequest, TensorSplit, UsageError
from zoo_timm.catalogue import tag_config
from zoo_timm.preprocess import MAX_SIDE, MIN_SIDE, Preprocess, decode_rgb
from zoo_vision.folder import VALS, FolderOptions, held_out, options, scan

TRAIN = "train"
#: The sample ``zoo check`` trains on: colour classes drawn here.
SAMPLE_CLASSES = ["red", "green", "blue"]
COLOURS = {"red": (220, 40, 30), "green": (30, 180, 60), "blue": (40, 60, 220)}
#: The sample's side for models that take any size: zoo serve's /v2 JSON body limit (2 MiB) holds
#: a batch of two 64x64 colour pictures as JSON numbers, not two at 160 or 224.
SAMPLE_SIDE = 64


def preprocess_for(request: DataRequest) -> Preprocess:
    """A checkpoint's own preprocessing (``zoo eval --data``), else that of ``--tag``/``--image-size``."""
    if request.meta and "preprocess" in request.meta:
        try:
            return Preprocess.from_meta(request.meta["preprocess"])
        except ValueError as exc:
            raise UsageError(
                f"the checkpoint's {exc}", hint="the checkpoint is damaged; train it again"
            ) from None
    opts = request.options
    arch, tag, size = opts.get("arch"), opts.get("pretrained") or opts.get("tag"), opts.get("image_size", 0)
    try:
        config = tag_config(str(arch), str(tag))
    except ValueError as exc:
        raise UsageError(str(exc), hint="zoo info timm.ARCH lists the tags") from None
    if isinstance(size, bool) or not isinstance(size, int) or (size and not MIN_SIDE <= size <= MAX_SIDE):
        raise UsageError(f"--image-size must be 0 (the weights' own) or {MIN_SIDE}..{MAX_SIDE}, got {size!r}")
    native = int(config["input_size"][-1])
    if size and config.get("fixed_input_size") and size != native:
        raise UsageError(f"timm.{arch} takes only {native}x{native} pictures, not --image-size {size}")
    return Preprocess.from_config(config, size)


def _decode(files: list[Path], pre: Preprocess, opts: FolderOptions) -> tuple[torch.Tensor, list[str]]:
    out = torch.empty((len(files), 3, pre.size, pre.size), dtype=torch.uint8)
    bad: list[str] = []
    kept = 0
    for file in files:
        try:
            out[kept] = pre.pixels(decode_rgb(file, file, opts.max_pixels, "--max-pixels N"))
        except DataError as exc:
            if not opts.skip_bad:
                raise DataError(
                    exc.message, hint=f"{exc.hint or 'remove the file'}; or --skip-bad-images true"
                ) from None
            bad.append(str(file))
            continue
        kept += 1
    return out[:kept].clone() if kept < len(files) else out, bad


def _read(folder: Path, classes: list[str] | None, pre: Preprocess, opts: FolderOptions, budget: int) -> Any:
    classes, files, labels = scan(folder, classes)
    need = len(files) * 3 * pre.size * pre.size
    if need > budget:
        raise DataError(
            f"holds {len(files):,} pictures: {need / 2**20:,.0f} MB decoded at {pre.size}x{pre.size}, "
            "over the "
            f"memory budget of {budget / 2**20:,.0f} MB",
            path=folder,
            hint="raise --memory-mb, lower --image-size, or train on part of the pictures",
        )
    x, bad = _decode(files, pre, opts)
    skipped = set(bad)
    y = torch.tensor(
        [lab for f, lab in zip(files, labels, strict=True) if str(f) not in skipped], dtype=torch.int64
    )
    empty = [
        c for c, n in zip(classes, torch.bincount(y, minlength=len(classes)).tolist(), strict=True) if n == 0
    ]
    if empty:
        raise DataError(f"class folder {empty[0]!r} has no readable pictures", path=folder / empty[0])
    return classes, x, y, bad


def load(request: DataRequest) -> DataBundle:
    """``--data DIR`` as a DataBundle of uint8 pictures, normalized by ``Preprocess`` batch by batch."""
    root_text = request.options.get("data") or ""
    if not root_text:
        raise UsageError(
            "timm models train on your pictures: give --data DIR (one subfolder of pictures per class)",
            hint="for example: zoo train timm.test_resnet --data shapes/",
        )
    pre = preprocess_for(request)
    known = request.meta.get("classes") if request.meta else None
    opts = options(request)
    budget = int(request.options.get("memory_mb", 2048)) * 2**20
    root = Path(root_text)
    val_dir = next((root / v for v in VALS if (root / v).is_dir()), None)
    val: TensorSplit | None
    if (root / TRAIN).is_dir() and val_dir is not None:
        classes, x, y, bad = _read(root / TRAIN, None, pre, opts, budget)
        _, vx, vy, vbad = _read(val_dir, classes, pre, opts, budget - x.numel())
        bad += vbad
        train, val = TensorSplit(x, y), TensorSplit(vx, vy)
        split: dict[str, Any] = {"train": len(y), "val": len(vy), "from": f"{TRAIN}/ and {val_dir.name}/"}
    else:
        classes, x, y, bad = _read(root, known if isinstance(known, list) else None, pre, opts, budget)
        train, val, split = held_out(x, y, opts.val_fraction, request.seed)
    skipped = f"; skipped {len(bad)} unreadable file(s), first {bad[0]}" if bad else ""
    bundle = _bundle(
        pre,
        classes,
        train,
        val,
        root.name,
        {**split, "skipped": len(bad)},
        f"{len(classes)} classes from {root}: {len(train)} train / {len(val) if val else 0} val, "
        f"each picture {pre.words()}{skipped}",
    )
    return with_pretrained(bundle, request)


def with_pretrained(bundle: DataBundle, request: DataRequest) -> DataBundle:
    """``--pretrained TAG``: the hub file fetched and checked now, its sha256 recorded for the builder.

    The tag and sha256 go into the builder's config and ``data_meta["pretrained"]``, so the run
    and every checkpoint say which file the model started from.
    """
    tag = request.options.get("pretrained") or ""
    if not tag or request.meta is not None:
        return bundle
    from zoo_timm.hub import FILE, fetch, repo_of

    arch = str(request.options.get("arch"))
    path, digest = fetch(arch, str(tag))
    config = tag_config(arch, str(tag))
    bundle.config.update(weights_tag=tag, weights_sha256=digest)
    bundle.meta["pretrained"] = {
        "repo": repo_of(arch, str(tag)),
        "file": FILE,
        "sha256": digest,
        "license": config["license"],
        "source": config["source"],
    }
    bundle.description += f"; starting from {repo_of(arch, str(tag))} {FILE} (sha256 {digest[:12]}...)"
    return bundle


def _bundle(
    pre: Preprocess,
    classes: list[str],
    train: TensorSplit,
    val: TensorSplit | None,
    source: str,
    split: dict[str, Any],
    description: str,
) -> DataBundle:
    meta = {
        "preprocess": pre.to_meta(),
        "classes": classes,
        "source": source,
        "split": split,
        "image_size": pre.size,
    }
    return DataBundle(
        train=train,
        val=val,
        transform=pre.normalize,
        meta=meta,
        config={"num_classes": len(classes)},
        num_classes=len(classes),
        description=description,
    )


def colour_picture(colour: str, seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A light picture with one shape (disc, box or bar) in ``colour``, placed by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    w, h = size
    image = Image.new("RGB", size, (235, 235, 230))
    draw = ImageDraw.Draw(image)
    x0, y0 = (int(v) for v in torch.randint(0, min(w, h) // 3, (2,), generator=generator))
    box = (x0, y0, x0 + w // 2, y0 + h // 2)
    kind = seed % 3
    (draw.ellipse if kind == 0 else draw.rectangle)(
        box if kind < 2 else (x0, y0, x0 + w // 2, y0 + 8), fill=COLOURS[colour]
    )
    return image


def load_sample(request: DataRequest) -> DataBundle:
    """Colour pictures drawn here (red, green, blue shapes), for ``zoo check``: at most SAMPLE_SIDE wide."""
    pre = preprocess_for(request)
    fixed = tag_config(str(request.options.get("arch")), str(request.options.get("tag"))).get(
        "fixed_input_size"
    )
    if not fixed and not request.options.get("image_size"):
        pre = replace(pre, size=min(pre.size, SAMPLE_SIDE))
    pictures = [(c, i) for i in range(8) for c in SAMPLE_CLASSES]
    x = torch.stack([pre.pixels(colour_picture(c, request.seed * 100 + i)) for c, i in pictures])
    y = torch.tensor([SAMPLE_CLASSES.index(c) for c, _ in pictures])
    split = {"train": 18, "val": 6}
    return _bundle(
        pre,
        SAMPLE_CLASSES,
        TensorSplit(x[:18], y[:18]),
        TensorSplit(x[18:], y[18:]),
        "sample",
        split,
        f"24 drawn colour pictures (red, green, blue shapes), each {pre.words()}",
    )
