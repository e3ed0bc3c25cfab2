"""Scale-out through torchrun: 2 CPU processes with gloo, and an elastic restart after a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from zoo_testkit import Runner


def _torchrun(site: Path, cwd: Path, *args: str, restarts: int = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(PYTHONPATH=str(site), ZOO_LOAD_PLUGINS="toy", OMP_NUM_THREADS="1")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "--max-restarts",
        str(restarts),
        "-m",
        "zoo",
        "train",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_two_processes_match_one(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    common = ("toy.mlp", "--epochs", "4", "--device", "cpu", "--seed", "2")
    result = _torchrun(toy_site, tmp_path, *common, "--out", str(ddp))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "x 2 processes" in result.stdout
    assert result.stdout.count("epoch 4/4") == 1  # only rank 0 prints
    zoo_cli("train", *common, "--out", str(single), sites=(toy_site,), check=True)
    rows = [json.loads(x) for x in (ddp / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    evaluated = json.loads(
        zoo_cli("eval", str(ddp / "last.safetensors"), "--json", sites=(toy_site,), check=True).stdout
    )
    assert abs(evaluated["accuracy"] - rows[-1]["val_accuracy"]) < 1e-9
    alone = [json.loads(x) for x in (single / "metrics.jsonl").read_text().splitlines()]
    # Same global batch and learning rate: the same training, up to float summation order.
    assert abs(evaluated["accuracy"] - alone[-1]["val_accuracy"]) <= 0.05
    assert abs(rows[-1]["val_loss"] - alone[-1]["val_loss"]) < 0.05
    meta = json.loads(zoo_cli("info", str(ddp / "last.safetensors"), "--json", sites=(toy_site,), check=True).stdout)
    assert meta["world_size"] == "2"


def test_killed_rank_restarts_and_resumes(toy_site: Path, tmp_path: Path) -> None:
    crash, clean = tmp_path / "crash", tmp_path / "clean"
    common = ("toy.mlp", "--epochs", "4", "--device", "cpu")
    ok = _torchrun(toy_site, tmp_path, *common, "--out", str(clean), "--method", "crash-once")
    # Without restarts allowed the killed rank fails the whole job...
    assert ok.returncode != 0
    result = _torchrun(toy_site, tmp_path, *common, "--out", str(crash), "--method", "crash-once", restarts=1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resuming from" in result.stdout and "epoch 2" in result.stdout
    rows = [json.loads(x) for x in (crash / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    reference = tmp_path / "reference"
    ref = _torchrun(toy_site, tmp_path, *common, "--out", str(reference))
    assert ref.returncode == 0, ref.stderr
    a, b = load_file(str(crash / "last.safetensors")), load_file(str(reference / "last.safetensors"))
    for key in (k for k in a if k.startswith("model/")):
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_world_larger_than_data_is_a_clear_error(toy_site: Path, tmp_path: Path) -> None:
    result = _torchrun(
        toy_site, tmp_path, "toy.line", "--samples", "2", "--device", "cpu", "--out", str(tmp_path / "tiny")
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "has 1 samples but there are 2 processes" in output
    small = _torchrun(
        toy_site, tmp_path, "toy.line", "--batch-size", "1", "--device", "cpu", "--out", str(tmp_path / "b1")
    )
    assert small.returncode != 0
    assert "a batch of 1 cannot be shared by 2 processes" in small.stdout + small.stderr
    assert output.count("error: the training split") == 1  # said once, by rank 0


def _installed(dist: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def _write_idx(folder: Path, samples: int, seed: int) -> None:
    """A tiny learnable MNIST in torchvision's layout: class c is a bright square at spot c."""
    import struct

    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(samples) % 10
    images = (torch.rand(samples, 28, 28, generator=g) * 40).to(torch.uint8)
    for i, c in enumerate(labels.tolist()):
        r, col = 2 + (c // 5) * 12, 2 + (c % 5) * 5
        images[i, r : r + 8, col : col + 4] = 255
    prefix = "train" if seed == 0 else "t10k"
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 2051, samples, 28, 28) + images.numpy().tobytes()
    )
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, samples) + bytes(labels.tolist()))


PLUGIN_CASES = {
    "zoo-tabular": ("tabular.logistic", "--epochs", "60"),
    "zoo-seq": ("seq.embedding", "--data", "pairs.tsv", "--epochs", "40", "--batch-size", "0"),
    "zoo-vision": ("vision.fc", "--recipe", "seed", "--epochs", "3"),
}


@pytest.mark.parametrize("dist", sorted(PLUGIN_CASES))
def test_each_installed_plugin_trains_under_torchrun(zoo_cli: Runner, tmp_path: Path, dist: str) -> None:
    if not _installed(dist):
        pytest.skip(f"{dist} is not installed here")
    namespace = dist.removeprefix("zoo-")
    (tmp_path / "pairs.tsv").write_text("hello\tohlol\nworld\tdlrow\nzebra\tarbez\n", encoding="utf-8")
    data = tmp_path / "data"
    _write_idx(data, 200, 0)
    _write_idx(data, 60, 1)
    args = (*PLUGIN_CASES[dist], "--device", "cpu", "--quiet", "--data-dir", str(data))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(ZOO_LOAD_PLUGINS=namespace, OMP_NUM_THREADS="1", ZOO_OFFLINE="1")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "zoo",
        "train",
        *args,
        "--out",
        str(tmp_path / "ddp"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    single = zoo_cli("train", *args, "--out", str(tmp_path / "single"), env={"ZOO_LOAD_PLUGINS": namespace}, check=True)
    assert single.returncode == 0
    ddp, alone = (
        json.loads(
            zoo_cli(
                "eval",
                str(tmp_path / run / "best.safetensors"),
                "--json",
                "--device",
                "cpu",
                "--data-dir",
                str(data),
                env={"ZOO_LOAD_PLUGINS": namespace},
                check=True,
            ).stdout
        )
        for run in ("ddp", "single")
    )
    assert ddp["accuracy"] >= alone["accuracy"] - 0.2, (ddp, alone)
