"""Helpers for the export and serve tests: tiny trained checkpoints and a real server process."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.testing import run_cli

ROOT = Path(__file__).resolve().parents[1]
REAL_MNIST = ROOT.parent / "shared" / "data" / "mnist"

#: Every first-party model with the training options that make a tiny run of it.
TINY_RUNS: dict[str, list[str]] = {
    "tabular.linear": ["--epochs", "5"],
    "tabular.affine": ["--epochs", "5"],
    "tabular.logistic": ["--epochs", "30"],
    "tabular.diabetes": ["--epochs", "3", "--data", "{csv}"],
    "vision.fc": ["--epochs", "2", "--batch-size", "16", "--data-dir", "{mnist}"],
    "vision.cnn": [
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--data-dir",
        "{mnist}",
    ],
    "seq.rnncell": ["--epochs", "2"],
    "seq.rnn": ["--epochs", "2"],
    "seq.embedding": ["--epochs", "2"],
}


def zoo_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.setdefault("OMP_NUM_THREADS", "2")
    env.update(extra)
    return env


def run_zoo(*args: str, cwd: Path, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS`` in a subprocess with every installed plugin."""
    return run_cli(*args, cwd=cwd, plugins=None, data_dir="data", timeout=timeout, check=check, threads=2)


def write_diabetes_csv(path: Path, rows: int = 60) -> Path:
    """Eight features and a 0/1 label, like the notes' diabetes.csv."""
    rng = random.Random(0)
    lines = []
    for _ in range(rows):
        x = [round(rng.uniform(-1, 1), 3) for _ in range(8)]
        lines.append(",".join(map(str, [*x, int(sum(x) > 0)])))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_mnist(data_dir: Path, n_train: int = 64, n_test: int = 32) -> Path:
    """An MNIST folder of bars and rings (label = shape), in torchvision's raw layout."""
    import torch

    from zoo_vision.idx import encode_images, encode_labels

    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = torch.arange(n) % 2
        images = torch.zeros(n, 28, 28, dtype=torch.uint8)
        for i in range(n):
            shift = int(torch.randint(-2, 3, (1,), generator=g))
            if labels[i] == 0:
                images[i, 5:23, 12 + shift : 16 + shift] = 255
            else:
                images[i, 12 + shift : 16 + shift, 5:23] = 255
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(encode_images(images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(encode_labels(labels))
    return data_dir


def train_tiny(name: str, work: Path) -> Path:
    """Train ``name`` briefly in ``work``; return its best checkpoint."""
    subs = {"{csv}": str(write_diabetes_csv(work / "diabetes.csv")), "{mnist}": str(write_mnist(work / "mnist"))}
    args = [subs.get(a, a) for a in TINY_RUNS[name]]
    out = work / name
    run_zoo("train", name, *args, "--device", "cpu", "--quiet", "--out", str(out), cwd=work)
    return out / "best.safetensors"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(
    *checkpoints: str | Path,
    cwd: Path,
    timeout: float = 90,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """``zoo serve`` (with ``args``, and ``env`` added to zoo's) as a real subprocess on a free 127.0.0.1 port.

    Yields its base URL. Its output goes to ``cwd / serve-PORT.log``.
    """
    port = free_port()
    log = (cwd / f"serve-{port}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", "serve", *map(str, checkpoints), "--port", str(port), *args],
        cwd=cwd,
        env=zoo_env(**(env or {})),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"zoo serve exited {proc.returncode}: {(cwd / log.name).read_text()}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("zoo serve did not answer /healthz in time")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def together(n: int, send: Any) -> list[Any]:
    """``send(client)`` from ``n`` threads released at once; the answers in no particular order."""
    import httpx

    gate = threading.Barrier(n)
    answers: list[Any] = []

    def call() -> None:
        with httpx.Client(timeout=120) as http:
            gate.wait()
            answers.append(send(http))

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers
