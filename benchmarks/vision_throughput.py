"""Training throughput of vision.cnn and vision.fc: the fast data path against torchvision's DataLoader.

Both paths come from zoo_vision's real loader (``--loader fast`` and ``--loader
torchvision``) and feed the plugin's real models through zoo's batch iterator, with
the same batch size and the same batches. A fixed number of optimizer steps is timed
after a warm-up; on CUDA the clock is read only after ``torch.cuda.synchronize()``.
The paths alternate and each case is measured ``--repeats`` times; the best run is
reported (the one least disturbed by other work on the machine), with the median
and every run beside it.

Without ``--data-dir`` a synthetic MNIST-sized set of IDX files is written to a
temporary folder in torchvision's layout, so the script runs anywhere. It prints one
JSON object and never passes or fails.

    python benchmarks/vision_throughput.py --device cpu --steps 50
    python benchmarks/vision_throughput.py --device cuda --batch-size 512 --data-dir ~/.cache/zoo
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.contracts.data import DataBundle, DataRequest
from zoo.use.batching import iterate, to_device
from zoo_vision import mnist
from zoo_vision.idx import encode_images, encode_labels
from zoo_vision.models import build_cnn, build_fc

MODELS: dict[str, Callable[[], nn.Module]] = {"vision.cnn": build_cnn, "vision.fc": build_fc}


def write_synthetic(data_dir: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Random 28x28 digits in ``data_dir/MNIST/raw``: content does not change the speed."""
    raw = mnist.raw_folder(data_dir)
    raw.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, 10, (n,), generator=generator)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(encode_images(images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(encode_labels(labels))


def planned_batches(n: int, batch_size: int, count: int, seed: int) -> list[torch.Tensor]:
    """``count`` full batches of indices, drawing new permutations as epochs run out."""
    generator = torch.Generator().manual_seed(seed)
    batches: list[torch.Tensor] = []
    while len(batches) < count:
        order = torch.randperm(n, generator=generator)
        batches += [b for b in order.split(batch_size) if len(b) == batch_size]
    return batches[:count]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    bundle: DataBundle, model_name: str, device: torch.device, batch_size: int, steps: int, warmup: int, seed: int
) -> dict[str, float]:
    """Samples per second over ``steps`` SGD steps (the notes' optimizer) after ``warmup`` steps."""
    torch.manual_seed(seed)
    model = MODELS[model_name]().to(device)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    split = to_device(bundle.train, device)
    assert split is not None
    batches = planned_batches(len(split), batch_size, warmup + steps, seed)
    loss = torch.zeros((), device=device)
    started = 0.0
    for i, (x, y) in enumerate(iterate(split, batches, device, bundle.transform)):
        if i == warmup:
            synchronize(device)
            started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    synchronize(device)
    seconds = time.perf_counter() - started
    return {
        "samples_per_s": round(steps * batch_size / seconds, 1),
        "ms_per_step": round(1000 * seconds / steps, 3),
        "final_loss": round(float(loss.item()), 4),
    }


def machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
    }
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover - the plugin requires it
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100, help="timed optimizer steps per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before the clock starts")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding MNIST/raw (real MNIST)")
    parser.add_argument("--synthetic-train", type=int, default=60000, help="size of the synthetic train set")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers on the torchvision path")
    parser.add_argument("--models", default="vision.cnn,vision.fc")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per case; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: CUDA is not available here")
        torch.backends.cudnn.benchmark = True
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")

    with tempfile.TemporaryDirectory(prefix="zoo-vision-bench-") as tmp:
        if args.data_dir is None:
            data_dir, source = Path(tmp), f"synthetic: {args.synthetic_train} train / 1000 test random images"
            write_synthetic(data_dir, args.synthetic_train, 1000, args.seed)
        else:
            data_dir, source = args.data_dir.expanduser(), str(mnist.raw_folder(args.data_dir.expanduser()))
        bundles, load_seconds = {}, {}
        for loader in ("fast", "torchvision"):
            options = {"loader": loader, "workers": args.workers, "mirror": ""}
            started = time.perf_counter()
            bundles[loader] = mnist.load(DataRequest(options, data_dir, args.seed, download=False))
            load_seconds[loader] = round(time.perf_counter() - started, 3)
        # Alternate the paths and repeat, so a busy machine slows both alike; report the best run.
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for model_name in models:
                for loader, bundle in bundles.items():
                    size, steps, warmup = args.batch_size, args.steps, args.warmup
                    rate = measure(bundle, model_name, device, size, steps, warmup, args.seed)
                    runs.setdefault((model_name, loader), []).append(rate)
        results: dict[str, dict[str, Any]] = {m: {} for m in models}
        for (model_name, loader), measured in runs.items():
            rates = [r["samples_per_s"] for r in measured]
            best = max(rates)  # the run least disturbed by anything else on the machine
            results[model_name][loader] = {
                "samples_per_s": best,
                "ms_per_step": round(1000 * args.batch_size / best, 3),
                "samples_per_s_median": round(statistics.median(rates), 1),
                "samples_per_s_runs": rates,
                "final_loss": measured[-1]["final_loss"],
            }
        for model_name in models:
            fast, slow = results[model_name]["fast"], results[model_name]["torchvision"]
            results[model_name]["speedup"] = round(fast["samples_per_s"] / slow["samples_per_s"], 2)

    report = {
        "benchmark": "vision_throughput",
        "device": str(device),
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "workers": args.workers,
        "data": source,
        "load_seconds": load_seconds,
        "results": results,
        "machine": machine(device),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
