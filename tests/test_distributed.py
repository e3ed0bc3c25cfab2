"""Scale-out through torchrun: 2 CPU processes with gloo, and an elastic restart after a crash."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from zoo_testkit import Runner


def _torchrun(
    site: Path, cwd: Path, *args: str, restarts: int = 0, rdzv_id: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``torchrun -m zoo train ARGS`` on 2 CPU processes: standalone, or with a fixed rendezvous id."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(PYTHONPATH=str(site), ZOO_LOAD_PLUGINS="toy", OMP_NUM_THREADS="1")
    if rdzv_id is None:
        rendezvous = ["--standalone"]
    else:  # --standalone would replace the id with a random one
        rendezvous = ["--nnodes", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}"]
        rendezvous += ["--rdzv-id", rdzv_id]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *rendezvous,
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _model_weights(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model/")}


def _assert_close_weights(a: Path, b: Path, atol: float) -> None:
    wa, wb = _model_weights(a), _model_weights(b)
    assert wa.keys() == wb.keys() and wa
    for key in wa:
        assert torch.allclose(wa[key], wb[key], rtol=0, atol=atol), (key, (wa[key] - wb[key]).abs().max())


def _rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_match_one(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    common = ("toy.mlp", "--epochs", "4", "--device", "cpu", "--seed", "2")  # not --quiet: the header is read
    result = _torchrun(toy_site, tmp_path, *common, "--out", str(ddp))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "x 2 processes" in result.stdout
    assert result.stdout.count("epoch 4/4") == 1  # only rank 0 prints
    zoo_cli("train", *common, "--out", str(single), sites=(toy_site,), check=True)
    rows = _rows(ddp)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    evaluated = json.loads(
        zoo_cli("eval", str(ddp / "last.safetensors"), "--json", sites=(toy_site,), check=True).stdout
    )
    assert abs(evaluated["accuracy"] - rows[-1]["val_accuracy"]) < 1e-9
    alone = _rows(single)
    # Same global batch and learning rate: the same training, up to float summation order.
    _assert_close_weights(ddp / "last.safetensors", single / "last.safetensors", atol=1e-5)
    assert [r["step"] for r in rows] == [r["step"] for r in alone]
    for mine, theirs in zip(rows, alone):
        assert abs(mine["train_loss"] - theirs["train_loss"]) < 1e-5
        assert abs(mine["val_loss"] - theirs["val_loss"]) < 1e-5
    meta = json.loads(zoo_cli("info", str(ddp / "last.safetensors"), "--json", sites=(toy_site,), check=True).stdout)
    assert meta["world_size"] == 2


# toy.mlp: 60 training samples in batches of 8, so 8 steps per epoch; "crash-once" kills
# rank 1 at the start of epoch 3 on the first attempt, after epoch 2 was saved.
_CRASHING = ("toy.mlp", "--epochs", "4", "--device", "cpu")  # not --quiet: the resume line is read


@pytest.fixture(scope="module")
def uninterrupted(toy_site_module: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same 2-process training as the crashing runs, never interrupted."""
    work = tmp_path_factory.mktemp("reference")
    ref = _torchrun(toy_site_module, work, *_CRASHING, "--out", str(work / "run"))
    assert ref.returncode == 0, ref.stdout + ref.stderr
    return work / "run"


def test_killed_rank_restarts_and_resumes(toy_site: Path, tmp_path: Path, uninterrupted: Path) -> None:
    crash, clean = tmp_path / "crash", tmp_path / "clean"
    ok = _torchrun(toy_site, tmp_path, *_CRASHING, "--out", str(clean), "--method", "crash-once")
    # Without restarts allowed the killed rank fails the whole job...
    assert ok.returncode != 0
    result = _torchrun(toy_site, tmp_path, *_CRASHING, "--out", str(crash), "--method", "crash-once", restarts=1)
    assert result.returncode == 0, result.stdout + result.stderr
    # ...with one, the new group resumes after epoch 2 (16 steps), where the crash left it.
    assert f"resuming from {crash / 'last.safetensors'}: epoch 2, step 16" in result.stdout, result.stdout
    assert [r["epoch"] for r in _rows(crash)] == [1, 2, 3, 4]
    _assert_close_weights(crash / "last.safetensors", uninterrupted / "last.safetensors", atol=1e-6)


def test_elastic_restart_without_out_resumes_from_the_rendezvous_folder(
    toy_site: Path, tmp_path: Path, uninterrupted: Path
) -> None:
    result = _torchrun(toy_site, tmp_path, *_CRASHING, "--method", "crash-once", restarts=1, rdzv_id="job-7")
    assert result.returncode == 0, result.stdout + result.stderr
    run = Path("runs") / "toy.mlp" / "torchrun-job-7"
    assert f"resuming from {run / 'last.safetensors'}: epoch 2, step 16" in result.stdout, result.stdout
    assert [r["epoch"] for r in _rows(tmp_path / run)] == [1, 2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "runs" / "toy.mlp").iterdir()) == ["latest", "torchrun-job-7"]
    _assert_close_weights(tmp_path / run / "last.safetensors", uninterrupted / "last.safetensors", atol=1e-6)


def test_final_batch_smaller_than_the_world_is_dropped(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    """50 training samples in batches of 7: 7 full batches and 1 sample left, too few for 2 processes.

    (A final batch that every rank can share is kept: test_two_processes_match_one ends each
    epoch with 4 samples and takes as many steps as one process.)
    """
    args = ("toy.mlp", "--samples", "75", "--batch-size", "7", "--epochs", "1", "--device", "cpu", "--quiet")
    ddp = _torchrun(toy_site, tmp_path, *args, "--out", str(tmp_path / "ddp"))
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr
    zoo_cli("train", *args, "--out", str(tmp_path / "single"), sites=(toy_site,), check=True)
    assert _rows(tmp_path / "single")[0]["step"] == 8  # one process keeps the last sample as a batch
    assert _rows(tmp_path / "ddp")[0]["step"] == 7  # two processes drop it


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


RANK_PLUGIN = """
from zoo import DatasetSpec, ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("points", "points", "rankplug.impl:load"))

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("net", "a line", "regression", "rankplug.impl:build", "rank.points",
                       recipes=(Recipe("default", "sgd", {"epochs": 2, "batch_size": 8, "lr": 0.1}),)))
"""
RANK_IMPL = """
import os
import torch
from torch import nn
from zoo.contracts.data import DataBundle, TensorSplit
from zoo.errors import ZooError

def build():
    return nn.Linear(2, 1)

def load(request):
    if os.environ.get("RANK") == "1":
        raise ZooError("rank one cannot read its data")
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    return DataBundle(TensorSplit(x[:24], x[:24, :1]), TensorSplit(x[24:], x[24:, :1]))
"""


def test_an_error_of_one_rank_alone_is_printed_with_its_rank(tmp_path: Path) -> None:
    from zoo_testkit import write_plugin

    site = write_plugin(
        tmp_path / "site",
        "rank-plugin",
        "rankplug",
        {"__init__.py": RANK_PLUGIN, "impl.py": RANK_IMPL},
        {"rank": "rankplug"},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(PYTHONPATH=str(site), ZOO_LOAD_PLUGINS="rank", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += ["-m", "zoo", "train", "rank.net", "--device", "cpu", "--out", str(tmp_path / "run")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert output.count("error on rank 1: rank one cannot read its data") == 1, output


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
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
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
                *(("--data", "pairs.tsv") if dist == "zoo-seq" else ()),  # data files are named, not located
                env={"ZOO_LOAD_PLUGINS": namespace},
                check=True,
            ).stdout
        )
        for run in ("ddp", "single")
    )
    assert ddp["accuracy"] >= alone["accuracy"] - 0.2, (ddp, alone)
