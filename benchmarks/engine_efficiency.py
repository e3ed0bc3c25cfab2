"""Steady-state speed of zoo's training loop against a bare PyTorch loop with the data on the device.

Both sides train the same vision model (``build_cnn`` or ``build_fc``) with the golden
recipe's batch size, optimizer and schedule on the same synthetic MNIST-shaped data (the
content does not change the speed), and both do per epoch what a zoo epoch does: one
shuffled pass of optimizer steps, then an evaluation pass over the test images. The bare
loop keeps the normalized float images on the device and indexes them directly; zoo
uses its real path (``zoo.train``: uint8 on the device, normalized per batch, the run
folder, checkpoints, metrics). Each side runs in its own process, so each has its own
peak memory. Steady state is the median samples/s of the epochs after the first; each
side runs ``--repeat`` times, interleaved (bare, zoo, zoo, bare, ...) so that a busy or
warming machine weighs on both alike, and the median of its runs counts.
Goal: zoo >= 90 % of the bare loop. Resident memory is sampled at the end of every epoch
and must not grow with epochs.

    python benchmarks/engine_efficiency.py --model cnn --epochs 4 --train-samples 12000
    python benchmarks/engine_efficiency.py --device cuda --train-samples 60000 --epochs 6
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL = 0.90


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def write_synthetic(data_dir: Path, n_train: int, n_test: int) -> None:
    import torch

    from zoo_vision import mnist
    from zoo_vision.idx import encode_images, encode_labels

    raw = mnist.raw_folder(data_dir)
    raw.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, 10, (n,), generator=generator)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(encode_images(images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(encode_labels(labels))


def recipe_hparams(model: str, device: str) -> dict[str, Any]:
    from zoo.plugins.registry import get_registry

    spec = get_registry().model(f"vision.{model}")
    return spec.recipe(None, device="cpu" if device == "cpu" else "accelerator").resolved()


def device_peak_mb(device: Any) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None


def side_zoo(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    import zoo.training.progress
    from zoo.training.trainer import train

    epoch_rss: list[float] = []
    original = zoo.training.progress.Reporter.end_epoch

    def end_epoch(self: Any, *a: Any, **k: Any) -> Any:
        epoch_rss.append(round(rss_mb(), 1))
        return original(self, *a, **k)

    zoo.training.progress.Reporter.end_epoch = end_epoch  # type: ignore[method-assign]
    device = torch.device(args.device)
    run = train(
        f"vision.{args.model}",
        device=args.device,
        data_dir=args.data_dir,
        out=Path(args.data_dir) / "run",
        quiet=True,
        download=False,
        epochs=args.epochs,
    )
    rates = [float(h["samples_per_s"]) for h in run.history]
    return {"samples_per_s": rates, "epoch_rss_mb": epoch_rss, "peak_device_mb": device_peak_mb(device)}


def side_bare(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from zoo_vision import mnist
    from zoo_vision.models import build_cnn, build_fc

    h = recipe_hparams(args.model, args.device)
    device = torch.device(args.device)
    torch.manual_seed(0)
    files = {k: v for k, v in mnist.locate(mnist.raw_folder(Path(args.data_dir))).items() if v is not None}
    train_x, train_y = mnist.read_split(files, train=True)
    test_x, test_y = mnist.read_split(files, train=False)

    def prepare(x: torch.Tensor) -> torch.Tensor:
        return ((x.float() / 255.0 - mnist.MEAN) / mnist.STD).reshape(-1, 1, 28, 28).to(device)

    xs, ys = prepare(train_x), train_y.to(device)
    tx, ty = prepare(test_x), test_y.to(device)
    model = (build_cnn() if args.model == "cnn" else build_fc()).to(device)
    size = int(h["batch_size"])
    steps = (len(xs) + size - 1) // size
    if h["optimizer"] == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=h["lr"], momentum=h["momentum"], weight_decay=h["weight_decay"]
        )
    else:
        cls = torch.optim.AdamW if h["optimizer"] == "adamw" else torch.optim.Adam
        opt = cls(model.parameters(), lr=h["lr"], weight_decay=h["weight_decay"])
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=h["lr"], total_steps=steps * args.epochs)
        if h["schedule"] == "onecycle"
        else None
    )
    rates, epoch_rss = [], []
    for _ in range(args.epochs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(xs), device=device)
        for i in range(steps):
            idx = order[i * size : (i + 1) * size]
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        model.eval()
        correct = torch.zeros((), device=device)
        with torch.no_grad():
            for i in range(0, len(tx), max(size, 1024)):
                correct += (model(tx[i : i + max(size, 1024)]).argmax(1) == ty[i : i + max(size, 1024)]).sum()
        float(correct.item())
        seconds = time.perf_counter() - started
        rates.append(len(xs) / seconds)
        epoch_rss.append(round(rss_mb(), 1))
    return {"samples_per_s": rates, "epoch_rss_mb": epoch_rss, "peak_device_mb": device_peak_mb(device)}


def steady(rates: list[float]) -> float:
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


def grows(epoch_rss: list[float]) -> bool:
    """More than 5 % (and 20 MB) between the second epoch and the last."""
    if len(epoch_rss) < 3:
        return False
    first, last = epoch_rss[1], epoch_rss[-1]
    return last - first > max(20.0, 0.05 * first)


def run_order(repeat: int) -> list[str]:
    """bare, zoo, zoo, bare, bare, zoo, ...: each side as often early as late, so drift cancels."""
    pairs = [("bare", "zoo") if i % 2 == 0 else ("zoo", "bare") for i in range(repeat)]
    return [side for pair in pairs for side in pair]


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median steady rate over the runs of one side, with every run kept for reading."""
    return {
        "steady_samples_per_s": round(statistics.median(r["steady_samples_per_s"] for r in results), 1),
        "rss_grows": any(r["rss_grows"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "peak_device_mb": results[0]["peak_device_mb"],
        "runs": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cnn", choices=["cnn", "fc"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-samples", type=int, default=60000)
    parser.add_argument("--test-samples", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, interleaved (default 3)")
    parser.add_argument("--side", choices=["zoo", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        result = side_zoo(args) if args.side == "zoo" else side_bare(args)
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        print(json.dumps(result))
        return
    # No curves.png: a background drawing must not share the cores with the next run.
    env = {**os.environ, "ZOO_LOAD_PLUGINS": "vision", "ZOO_OFFLINE": "1", "ZOO_NO_PLOTS": "1"}
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "zoo": []}
    with tempfile.TemporaryDirectory(prefix="engine-") as tmp:
        write_synthetic(Path(tmp), args.train_samples, args.test_samples)
        for side in run_order(args.repeat):
            shutil.rmtree(Path(tmp) / "run", ignore_errors=True)
            cmd = [sys.executable, __file__, "--side", side, "--data-dir", str(Path(tmp))]
            cmd += ["--model", args.model, "--device", args.device, "--epochs", str(args.epochs)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise SystemExit(f"{side} failed:\n{proc.stderr[-3000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            result["samples_per_s"] = [round(r, 1) for r in result["samples_per_s"]]
            result["steady_samples_per_s"] = round(steady(result["samples_per_s"]), 1)
            result["rss_grows"] = grows(result["epoch_rss_mb"])
            runs[side].append(result)
            print(f"{side}: {result['steady_samples_per_s']:,.0f} samples/s steady", file=sys.stderr, flush=True)
    sides = {side: summarize(results) for side, results in runs.items()}
    efficiency = sides["zoo"]["steady_samples_per_s"] / sides["bare"]["steady_samples_per_s"]
    import torch

    print(
        json.dumps(
            {
                "benchmark": f"engine efficiency, vision.{args.model} default recipe",
                "device": args.device,
                "batch_size": recipe_hparams(args.model, args.device)["batch_size"],
                "epochs": args.epochs,
                "repeat": args.repeat,
                "train_samples": args.train_samples,
                "test_samples": args.test_samples,
                "machine": {
                    "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                },
                "bare": sides["bare"],
                "zoo": sides["zoo"],
                "efficiency": round(efficiency, 3),
                "goal": f">= {GOAL}",
                "meets_goal": efficiency >= GOAL,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
