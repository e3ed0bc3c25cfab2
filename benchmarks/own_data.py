"""Training on the user's own files: a folder of pictures and a CSV file, in this process.

Pictures: a temporary folder of ``--images`` files, one subfolder per digit, each file
a PNG or a JPEG of its own size (28 to 160 pixels a side, not always square) and mode
(L, RGB, RGBA with a transparent background, P), some dark-on-light. With ``--data-dir``
they are MNIST training images (a seeded draw, read with zoo-vision's IDX reader);
without it, digits drawn with PIL's own font, so the script needs no data. Then
``vision.cnn --data DIR`` trains through ``zoo.train`` (20 % held out, stratified), twice:
the first run decodes every file (``zoo_vision.folder`` keeps the framed 28x28 images in
memory), the second finds them decoded. The JSON holds the decode rate, the first
epoch's wall time counted from the call (data, model, one epoch of training and
validation) and how much of it was decoding, the later epochs' times, the validation
accuracy, and the second run's load and first epoch.

CSV: ``--rows`` rows of 8 numeric features and a text label of 3 classes (in the
middle of the row, so ``--target label`` is needed), trained with
``tabular.classifier --data FILE --target label``: the file's load time (read and
checked into tensors), the epoch times and the validation accuracy.

    python benchmarks/own_data.py --data-dir /work/shared/data/mnist
    python benchmarks/own_data.py --images 2000 --rows 5000 --epochs 2 --out own.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

SIZES = (28, 28, 40, 64, 96, 160)
MODES = ("L", "RGB", "RGBA", "P")
CLASSES = ("low", "medium", "high")
FEATURES = 8
SEED = 0


class Stopwatch:
    """Wraps a module's function so that every call's seconds are added up."""

    def __init__(self, module: Any, name: str) -> None:
        self.module, self.name = module, name
        self.original: Callable[..., Any] = getattr(module, name)
        self.seconds = 0.0
        self.calls = 0

    def __enter__(self) -> Stopwatch:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.original)


def mnist_digits(data_dir: Path, count: int) -> Iterator[tuple[Image.Image, int]]:
    """``count`` MNIST training images drawn at random (seeded), as 28x28 grayscale pictures."""
    import torch

    from zoo_vision.idx import decode_images, decode_labels
    from zoo_vision.mnist import TRAIN_IMAGES, TRAIN_LABELS, locate, raw_folder

    found = locate(raw_folder(data_dir))
    images_file, labels_file = found[TRAIN_IMAGES], found[TRAIN_LABELS]
    if images_file is None or labels_file is None:
        raise SystemExit(f"error: no MNIST training files in {raw_folder(data_dir)}")
    images, labels = decode_images(images_file), decode_labels(labels_file)
    if count > len(images):
        raise SystemExit(f"error: --images is at most {len(images)} with --data-dir, got {count}")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(SEED))[:count]
    for i in order.tolist():
        yield Image.fromarray(images[i].reshape(28, 28).numpy(), mode="L"), int(labels[i])


def drawn_digits(count: int, rng: random.Random) -> Iterator[tuple[Image.Image, int]]:
    """``count`` digits drawn with PIL's font: light on black, of varied size, place and slant."""
    fonts = {size: ImageFont.load_default(size=size) for size in range(34, 56, 4)}
    for i in range(count):
        label = i % 10
        canvas = Image.new("L", (64, 64), 0)
        draw = ImageDraw.Draw(canvas)
        xy = (32 + rng.randint(-6, 6), 32 + rng.randint(-6, 6))
        draw.text(xy, str(label), fill=rng.randint(180, 255), font=fonts[rng.choice(list(fonts))], anchor="mm")
        yield canvas.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR), label


def styled(gray: Image.Image, rng: random.Random) -> tuple[Image.Image, str]:
    """One picture in an assorted size and mode, and the format it is saved in."""
    side = rng.choice(SIZES)
    size = (side, max(16, round(side * rng.uniform(0.8, 1.25))))
    gray = gray.resize(size, Image.Resampling.BILINEAR)
    mode = rng.choice(MODES)
    if mode == "RGBA":  # white strokes, their shape in the alpha channel
        white = Image.new("L", size, 255)
        return Image.merge("RGBA", (white, white, white, gray)), "png"
    if rng.random() < 0.3:
        gray = ImageOps.invert(gray)
    if mode == "L":
        return gray, rng.choice(("png", "jpeg"))
    ink = tuple(rng.randint(0, 255) for _ in range(3))
    colour = ImageOps.colorize(gray, black=(0, 0, 0), white=ink) if sum(ink) > 240 else gray.convert("RGB")
    if mode == "P":
        return colour.convert("P", palette=Image.Palette.ADAPTIVE, colors=64), "png"
    return colour, rng.choice(("png", "jpeg"))


def write_pictures(root: Path, digits: Iterator[tuple[Image.Image, int]], rng: random.Random) -> dict[str, Any]:
    """The class folders ``root/0`` .. ``root/9``; what was written."""
    formats: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    started = time.perf_counter()
    written = 0
    for i, (gray, label) in enumerate(digits):
        picture, kind = styled(gray, rng)
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:06d}.{'jpg' if kind == 'jpeg' else 'png'}"
        picture.save(path, format=kind.upper(), **({"quality": rng.randint(70, 95)} if kind == "jpeg" else {}))
        formats[kind] += 1
        modes[picture.mode] += 1
        written += path.stat().st_size
    return {
        "count": sum(formats.values()),
        "formats": dict(sorted(formats.items())),
        "modes": dict(sorted(modes.items())),
        "sides": f"{min(SIZES)}-{max(SIZES)} pixels, aspect 0.8-1.25",
        "bytes": written,
        "write_seconds": round(time.perf_counter() - started, 2),
    }


class EpochClock:
    """Records when each epoch ended, counted from ``start()``."""

    def __init__(self) -> None:
        from zoo.training.callbacks import Callback

        clock = self

        class _Hook(Callback):
            def on_epoch_end(self, end: Any) -> None:
                clock.ends.append(time.perf_counter() - clock.started)

        self.hook = _Hook()
        self.ends: list[float] = []
        self.started = 0.0

    def start(self) -> None:
        self.ends, self.started = [], time.perf_counter()


def epochs_of(run: Any) -> list[float]:
    return [round(float(h["seconds"]), 2) for h in run.history]


def train_folder(folder: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Two ``vision.cnn --data`` runs on the folder: the first decodes it, the second finds it decoded."""
    import zoo
    import zoo_vision.folder

    clock = EpochClock()
    runs: list[dict[str, Any]] = []
    for n in (1, 2):
        with Stopwatch(zoo_vision.folder, "decode_all") as decode:
            clock.start()
            run = zoo.train(
                "vision.cnn",
                data=str(folder),
                epochs=args.epochs,
                seed=SEED,
                device="cpu",
                quiet=True,
                download=False,
                out=out / f"cnn-{n}",
                callbacks=[clock.hook],
            )
        epochs = epochs_of(run)
        first = clock.ends[0]
        runs.append(
            {
                "decode_seconds": round(decode.seconds, 2),
                "load_seconds": round(first - epochs[0], 2),  # everything before epoch 1 began
                "first_epoch_seconds": round(first, 2),
                "first_epoch_decode_share": round(decode.seconds / first, 3),
                "epoch_seconds": epochs,
                "val_accuracy": round(float(run.metrics["val_accuracy"]), 4),
            }
        )
    cold, warm = runs
    later = cold["epoch_seconds"][1:]
    return {
        "model": "vision.cnn",
        "held_out": "0.2 of each class, stratified, seed 0",
        "decode_images_per_s": round(args.images / cold["decode_seconds"]) if cold["decode_seconds"] else None,
        **cold,
        "later_epoch_seconds_median": float(np.median(later)) if later else None,
        "second_run": {k: warm[k] for k in ("decode_seconds", "load_seconds", "first_epoch_seconds", "epoch_seconds")},
    }


def write_csv(path: Path, rows: int, rng: random.Random) -> dict[str, Any]:
    """Rows of 8 numeric features with a text label in the middle, the classes overlapping."""
    centres = {name: [rng.uniform(-1, 1) for _ in range(FEATURES)] for name in CLASSES}
    header = [f"x{j}" for j in range(FEATURES // 2)] + ["label"] + [f"x{j}" for j in range(FEATURES // 2, FEATURES)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(rows):
            name = CLASSES[i % len(CLASSES)]
            values = [f"{c + rng.gauss(0, 0.8):.4f}" for c in centres[name]]
            writer.writerow([*values[: FEATURES // 2], name, *values[FEATURES // 2 :]])
    return {"rows": rows, "features": FEATURES, "classes": list(CLASSES), "bytes": path.stat().st_size}


def train_csv(path: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """``tabular.classifier --data FILE --target label``: load time, epoch times, accuracy."""
    import zoo
    import zoo_tabular.anycsv

    clock = EpochClock()
    with (
        Stopwatch(zoo_tabular.anycsv, "read_cells") as read,
        Stopwatch(zoo_tabular.anycsv, "classes_bundle") as bundle,
    ):
        clock.start()
        run = zoo.train(
            "tabular.classifier",
            data=str(path),
            target="label",
            epochs=args.epochs,
            seed=SEED,
            device="cpu",
            quiet=True,
            out=out / "csv",
            callbacks=[clock.hook],
        )
    epochs = epochs_of(run)
    return {
        "model": "tabular.classifier",
        "read_seconds": round(read.seconds, 2),
        "load_seconds": round(read.seconds + bundle.seconds, 2),  # read, checked, split, standardized
        "setup_seconds": round(clock.ends[0] - epochs[0], 2),
        "epochs_run": len(epochs),
        "epoch_seconds": epochs,
        "val_accuracy": round(float(run.metrics["val_accuracy"]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000, help="pictures in the generated folder")
    parser.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (holding MNIST/raw) to draw from")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the generated CSV")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each training run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    args = parser.parse_args()
    if args.images < 20 or args.rows < 20 or args.epochs < 1:
        parser.error("--images and --rows must be at least 20, --epochs at least 1")
    os.environ["ZOO_NO_PLOTS"] = "1"
    import torch

    from zoo.files.outpath import check_output, write_text_atomic

    if args.out is not None:
        check_output(args.out, flag="--out")
    torch.set_num_threads(args.threads)
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="zoo-own-data-") as tmp:
        folder, runs = Path(tmp) / "digits", Path(tmp) / "runs"
        if args.data_dir is not None:
            digits, source = mnist_digits(args.data_dir, args.images), "MNIST training images, a seeded draw"
        else:
            digits, source = drawn_digits(args.images, rng), "digits drawn with PIL's default font"
        pictures = {"source": source, **write_pictures(folder, digits, rng)}
        vision = train_folder(folder, args, runs)
        table = write_csv(Path(tmp) / "table.csv", args.rows, rng)
        tabular = train_csv(Path(tmp) / "table.csv", args, runs)
    summary = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "torch_threads": args.threads,
        "epochs": args.epochs,
        "pictures": pictures,
        "vision": vision,
        "csv": {**table, **tabular},
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out is not None:
        write_text_atomic(args.out, text + "\n", flag="--out")


if __name__ == "__main__":
    main()
