"""How the MNIST recipes do on small training sets, judged on images the runs never train on.

For each size N (1,000, 4,000, 15,000 by default), the training set is the first N
images of a seeded shuffle of MNIST's training images 1-55,000 (so the sets nest), and
the held-out set is training images 55,001-60,000. Both are written as IDX files in a
temporary data folder in torchvision's layout, the held-out images in the place of the
test files, so ``zoo train`` evaluates on them and the test set is never looked at
while tuning. Each run is one whole ``zoo train`` command on the CPU (one torch thread,
``OMP_NUM_THREADS=1``), run one after the other; the JSON holds the final epoch's
held-out accuracy, the epochs and optimizer steps taken, the note the trainer printed
when it raised the epochs, and the training time.

``--compare`` also runs each case with ``--min-steps 0``: the recipe counted in epochs
alone, as before. ``--test`` adds the test-set accuracy of each run's final weights
(``zoo eval`` on the real data folder): a figure to report, not to tune on.

``--folders`` writes picture folders instead (``DIR/train/<digit>/*.png`` from the
subset, ``DIR/val/<digit>/*.png`` from 2,000 held-out images) and trains with
``--data DIR`` and zoo's own thread count, as a user's folder would be; ``--long`` adds
the run the step floor used to make, ``--epochs`` raised until 800 optimizer steps
(hundreds of passes on small folders), to show the held-out accuracy the shorter rule keeps.

    python benchmarks/small_data.py --data-dir ../shared/data/mnist --compare --seeds 0 1
    python benchmarks/small_data.py --data-dir ../shared/data/mnist --folders --models vision.cnn \
        --sizes 500 1000 2000 10000 --long 1000
    python benchmarks/small_data.py --data-dir ../shared/data/mnist --sizes 4000 --models vision.fc --test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

POOL = 55_000  # training images the subsets are drawn from; the rest are held out
SUBSET_SEED = 0


def write_subsets(source: Path, folder: Path, sizes: list[int]) -> dict[int, Path]:
    """One data folder per size: N shuffled training images, and the held-out images as the test files."""
    import torch

    from zoo_vision.idx import decode_images, decode_labels, encode_images, encode_labels
    from zoo_vision.mnist import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, locate, raw_folder

    found = locate(raw_folder(source))
    images_file, labels_file = found[TRAIN_IMAGES], found[TRAIN_LABELS]
    if images_file is None or labels_file is None:
        raise SystemExit(f"error: no MNIST training files in {raw_folder(source)}")
    images, labels = decode_images(images_file), decode_labels(labels_file)
    order = torch.randperm(POOL, generator=torch.Generator().manual_seed(SUBSET_SEED))
    held_x, held_y = images[POOL:], labels[POOL:]
    folders: dict[int, Path] = {}
    for size in sizes:
        if not 0 < size <= POOL:
            raise SystemExit(f"error: --sizes must be between 1 and {POOL}, got {size}")
        raw = raw_folder(folder / f"n{size}")
        raw.mkdir(parents=True)
        picked = order[:size]
        (raw / TRAIN_IMAGES).write_bytes(encode_images(images[picked]))
        (raw / TRAIN_LABELS).write_bytes(encode_labels(labels[picked]))
        (raw / TEST_IMAGES).write_bytes(encode_images(held_x))
        (raw / TEST_LABELS).write_bytes(encode_labels(held_y))
        folders[size] = folder / f"n{size}"
    return folders


FOLDER_HELDOUT = 2_000  # held-out pictures in a folder's val/


def write_folders(source: Path, folder: Path, sizes: list[int]) -> dict[int, Path]:
    """One picture folder per size: train/<digit>/*.png (the subset) and val/<digit>/*.png (held out)."""
    from PIL import Image

    idx = write_subsets(source, folder / "idx", sizes)
    from zoo_vision.idx import decode_images, decode_labels
    from zoo_vision.mnist import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, raw_folder

    def dump(images: Any, labels: Any, where: Path) -> None:
        for i, (image, label) in enumerate(zip(images, labels.tolist())):
            (where / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.reshape(28, 28).numpy()).save(where / str(label) / f"{i:05d}.png")

    folders: dict[int, Path] = {}
    for size, data in idx.items():
        raw = raw_folder(data)
        root = folder / f"pictures-{size}"
        dump(decode_images(raw / TRAIN_IMAGES), decode_labels(raw / TRAIN_LABELS), root / "train")
        held = decode_images(raw / TEST_IMAGES)[:FOLDER_HELDOUT], decode_labels(raw / TEST_LABELS)[:FOLDER_HELDOUT]
        dump(*held, root / "val")
        folders[size] = root
    return folders


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", ZOO_NO_PLOTS="1")
    return env


def train(model: str, data: Path, out: Path, seed: int, extra: list[str], folder: bool = False) -> dict[str, Any]:
    """One whole ``zoo train`` command; what its run folder says."""
    where = ["--data", str(data)] if folder else ["--data-dir", str(data), "--threads", "1"]
    command = [sys.executable, "-m", "zoo", "train", model, *where, "--out", str(out)]
    command += ["--seed", str(seed), "--device", "cpu", "--no-download", "--quiet", *extra]
    env = child_env()
    if folder:  # zoo's own thread choice, as for a user's folder
        env.pop("OMP_NUM_THREADS", None)
        env.pop("MKL_NUM_THREADS", None)
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {"status": "failed", "reason": lines[-1] if lines else f"exit code {proc.returncode}"}
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    config = json.loads((out / "config.json").read_text())
    last = history[-1]
    return {
        "status": "ok",
        "heldout_accuracy": last["val_accuracy"],
        "best_heldout_accuracy": max(h["val_accuracy"] for h in history),
        "epochs": len(history),
        "steps": last["step"],
        "epochs_note": config.get("epochs_note"),
        "threads": config.get("threads"),
        "train_seconds": round(sum(h["seconds"] for h in history), 2),
        "wall_seconds": round(wall, 2),
    }


def test_accuracy(run: Path, data_dir: Path) -> float | None:
    """The final weights' accuracy on the real test set (reported, never tuned on)."""
    command = [sys.executable, "-m", "zoo", "eval", str(run / "last.safetensors"), "--data-dir", str(data_dir)]
    proc = subprocess.run([*command, "--device", "cpu", "--json"], capture_output=True, text=True, env=child_env())
    if proc.returncode != 0:
        return None
    value = json.loads(proc.stdout).get("accuracy")
    return float(value) if value is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding MNIST/raw")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 15000])
    parser.add_argument("--models", nargs="+", default=["vision.cnn", "vision.fc"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--compare", action="store_true", help="also run each case with --min-steps 0")
    parser.add_argument("--test", action="store_true", help="also report the test-set accuracy of the final weights")
    parser.add_argument("--extra", default="", help="more zoo train options for every run, e.g. '--min-steps 800'")
    parser.add_argument("--folders", action="store_true", help="picture folders and --data DIR, zoo's threads")
    parser.add_argument("--long", type=int, nargs="*", help="also the run the old 800-step floor made (these sizes)")
    args = parser.parse_args()
    variants = [("recipe", args.extra.split())]
    if args.compare:
        variants.append(("epochs only", [*args.extra.split(), "--min-steps", "0"]))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="zoo-small-data-") as tmp:
        write = write_folders if args.folders else write_subsets
        folders = write(args.data_dir, Path(tmp), sorted(set(args.sizes)))
        for size in sorted(set(args.sizes)):
            long = ("800 steps", ["--epochs", str(math.ceil(800 / math.ceil(size / 256)))])
            for model in args.models:
                for seed in args.seeds:
                    for label, extra in variants + ([long] if args.long and size in args.long else []):
                        out = Path(tmp) / "runs" / f"{model}-{size}-{seed}-{len(rows)}"
                        row: dict[str, Any] = {"model": model, "train_samples": size, "seed": seed}
                        row.update(variant=label, options=" ".join(extra))
                        row.update(train(model, folders[size], out, seed, extra, args.folders))
                        if args.test and row["status"] == "ok":
                            row["test_accuracy"] = test_accuracy(out, args.data_dir)
                        print(json.dumps(row), file=sys.stderr, flush=True)
                        rows.append(row)
    import torch

    summary = {
        "heldout": f"training images {POOL + 1}-{POOL + FOLDER_HELDOUT} as val/ pictures"
        if args.folders
        else f"training images {POOL + 1}-60000 ({60000 - POOL} images)",
        "subsets": f"the first N of a shuffle (seed {SUBSET_SEED}) of training images 1-{POOL}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "torch_threads": "zoo's choice (see each run)" if args.folders else 1,
        "runs": rows,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
