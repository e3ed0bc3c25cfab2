"""Helpers for core tests: a throwaway plugin distribution laid out as pip would install it."""

from __future__ import annotations

import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

# A complete plugin: a tiny regression model and a 3-class classifier on seeded
# synthetic data. It stands in for real plugins so core is tested on its own.
TOY_PLUGIN = """
from zoo import DatasetSpec, ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("points", "noisy points on a plane", "toyplug.impl:load_points",
                         options={"samples": 64, "noise": 0.01}))
    register(DatasetSpec("blobs", "three gaussian blobs", "toyplug.impl:load_blobs", options={"samples": 90}))

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("line", "y = w.x + b", "regression", "toyplug.impl:build_line", "toy.points",
                       recipes=(Recipe("default", "adam", {"epochs": 3, "batch_size": 16, "lr": 0.05,
                                                           "optimizer": "adam"}),
                                Recipe("fast", "sgd", {"epochs": 2, "batch_size": 0, "lr": 0.1})),
                       config={"features": 2}, input_shape="(N, 2)", output_shape="(N, 1)"))
    register(ModelSpec("mlp", "3-class MLP", "multiclass", "toyplug.impl:build_mlp", "toy.blobs",
                       recipes=(Recipe("default", "sgd", {"epochs": 3, "batch_size": 8, "lr": 0.1,
                                                          "momentum": 0.9}),),
                       config={"hidden": 8}, adapter="toyplug.impl:CrashingAdapter"))
"""

TOY_IMPL = """
import torch
from torch import nn
from zoo.contracts.adapter import ModelAdapter, autograd_epoch
from zoo.contracts.data import DataBundle, TensorSplit
import os, signal, threading, time

class CrashingAdapter(ModelAdapter):
    # Adds a method that kills rank 1 once, mid-run, to test elastic restarts.

    def strategies(self):
        def crash_once(ctx):
            restarted = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0"
            if ctx.epoch == 2 and ctx.rank == 1 and not restarted:
                os.kill(os.getpid(), signal.SIGKILL)
            autograd_epoch(ctx)
        def interrupt(ctx):
            # TOY_SIGINT="EPOCH:BATCH:COUNT" (1-based epoch, 0-based batch of that epoch) sends COUNT
            # Ctrl-Cs to this process right after that batch's step: a mid-epoch Ctrl-C on demand.
            target = [int(v) for v in os.environ.get("TOY_SIGINT", "0:0:0").split(":")]
            for i, (x, y) in enumerate(ctx.batches()):
                ctx.train_step(x, y)
                if ctx.epoch + 1 == target[0] and i == target[1]:
                    for _ in range(target[2]):
                        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                        _let_handlers_run()

        def slow(ctx):
            # TOY_EPOCH_SECONDS: each epoch also waits this long, so a test can stop a run mid-way.
            time.sleep(float(os.environ.get("TOY_EPOCH_SECONDS", "0.2")))
            autograd_epoch(ctx)

        return {**super().strategies(), "crash-once": crash_once, "interrupt": interrupt, "slow": slow}

def _let_handlers_run():
    # Python runs a signal's handler at the next function call or loop jump in the main
    # thread; calling this once after each signal makes two Ctrl-Cs two handler calls.
    return None

def build_line(features=2):
    return nn.Linear(features, 1)

def build_mlp(hidden=8):
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3))

def load_points(request):
    g = torch.Generator().manual_seed(1234)
    n = int(request.options["samples"])
    x = torch.randn(n, 2, generator=g)
    y = x @ torch.tensor([[2.0], [-1.0]]) + 0.5 + float(request.options["noise"]) * torch.randn(n, 1, generator=g)
    cut = n * 3 // 4
    return DataBundle(TensorSplit(x[:cut], y[:cut]), TensorSplit(x[cut:], y[cut:]),
                      meta={"points": n}, description=f"{n} synthetic points")

def load_blobs(request):
    g = torch.Generator().manual_seed(99)
    n = int(request.options["samples"])
    y = torch.arange(n) % 3
    centers = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    x = centers[y] + 0.5 * torch.randn(n, 2, generator=g)
    cut = n * 2 // 3
    return DataBundle(TensorSplit(x[:cut], y[:cut]), TensorSplit(x[cut:], y[cut:]), num_classes=3)
"""


def write_plugin(
    site: Path,
    dist: str,
    package: str,
    files: dict[str, str],
    entry_points: dict[str, str],
    version: str = "0.1.0",
) -> Path:
    """Lay out a plugin distribution (package + dist-info) in ``site``, as pip would."""
    pkg = site / package
    pkg.mkdir(parents=True, exist_ok=True)
    for name, code in files.items():
        (pkg / name).write_text(textwrap.dedent(code), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[zoo.plugins]\n{lines}", encoding="utf-8")
    return site


Runner = Callable[..., subprocess.CompletedProcess[str]]


def wait_for(path: Path, seconds: float) -> bool:
    """Whether ``path`` exists within ``seconds``: for files that background processes write."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


#: A plugin whose model's default recipe declares its search space (``Recipe.space``), for zoo tune.
SPACED_PLUGIN = """
from zoo import ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_models(register):
    recipe = Recipe("default", "sgd", {"epochs": 2, "batch_size": 8, "lr": 0.1},
                    space={"lr": "0.01..0.5:log", "hidden": "4,8,16"})
    register(ModelSpec("mlp", "3-class MLP", "multiclass", "toyplug.impl:build_mlp", "toy.blobs",
                       recipes=(recipe,), config={"hidden": 8}))
"""
