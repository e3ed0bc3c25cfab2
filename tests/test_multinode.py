"""torchrun across nodes: two launchers on this machine act as two nodes of one run.

Each launcher runs one process, they meet through a c10d rendezvous on 127.0.0.1, and
rank 0 alone writes the shared run folder. Killing one node mid-run fails the job; the
same two commands started again resume from the last save point.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ARGS = ("toy.mlp", "--device", "cpu", "--seed", "3")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _node(site: Path, cwd: Path, port: int, rank: int, *args: str, env: dict[str, str] | None = None) -> Any:
    """One node's launcher, in its own process group so that killing it takes its worker too."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    full_env.update(PYTHONPATH=str(site), ZOO_LOAD_PLUGINS="toy", OMP_NUM_THREADS="1", **(env or {}))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--node-rank",
        str(rank),
        "--nproc-per-node",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        "--rdzv-id",
        "two-nodes",
        "-m",
        "zoo",
        "train",
        *args,
    ]
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants: a machine that goes away takes every process."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def _finish(nodes: list[Any], timeout: float = 300) -> list[tuple[int, str]]:
    results = []
    for node in nodes:
        try:
            out, err = node.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(node.pid)
            out, err = node.communicate()
        results.append((node.returncode, out + err))
    return results


def _epochs(run: Path) -> list[int]:
    if not (run / "metrics.jsonl").exists():
        return []
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.endswith("}")]
    return [int(r["epoch"]) for r in rows]


def test_two_nodes_train_one_run_that_rank_0_saves(toy_site: Path, tmp_path: Path) -> None:
    run, port = tmp_path / "shared" / "run", _free_port()
    nodes = [_node(toy_site, tmp_path, port, rank, *ARGS, "--epochs", "3", "--out", str(run)) for rank in (0, 1)]
    (code0, out0), (code1, out1) = _finish(nodes)
    assert code0 == 0 and code1 == 0, out0 + out1
    assert _epochs(run) == [1, 2, 3]
    assert (out0 + out1).count("epoch 3/3") == 1  # one rank prints, whichever node holds it
    meta = json.loads((run / "config.json").read_text())
    assert meta["model"] == "toy.mlp"
    from safetensors import safe_open

    with safe_open(str(run / "last.safetensors"), "pt") as handle:
        assert json.loads(handle.metadata()["world_size"]) == 2


def test_a_killed_node_fails_the_job_and_the_same_commands_resume_it(toy_site: Path, tmp_path: Path) -> None:
    run, port = tmp_path / "shared" / "run", _free_port()
    args = (*ARGS, "--epochs", "8", "--method", "slow", "--out", str(run))
    slow = {"TOY_EPOCH_SECONDS": "0.5"}
    nodes = [_node(toy_site, tmp_path, port, rank, *args, env=slow) for rank in (0, 1)]
    deadline = time.monotonic() + 240
    while len(_epochs(run)) < 3 and time.monotonic() < deadline and all(n.poll() is None for n in nodes):
        time.sleep(0.1)
    saved = len(_epochs(run))
    assert 3 <= saved < 8, _finish(nodes)
    _kill_tree(nodes[1].pid)  # the second machine goes away mid-run
    (code0, out0), _ = _finish(nodes)
    assert code0 != 0, out0  # the surviving node cannot finish alone
    done = _epochs(run)
    assert done and done == list(range(1, len(done) + 1)) and len(done) < 8

    again = [_node(toy_site, tmp_path, port, rank, *args, env={"TOY_EPOCH_SECONDS": "0"}) for rank in (0, 1)]
    (code0, out0), (code1, out1) = _finish(again)
    assert code0 == 0 and code1 == 0, out0 + out1
    resumed = [line for line in (out0 + out1).splitlines() if "resuming from" in line]
    assert len(resumed) == 1 and str(run / "last.safetensors") in resumed[0], out0 + out1
    epochs = _epochs(run)
    assert epochs == list(range(1, 9)), epochs  # nothing repeated, nothing lost


@pytest.fixture(autouse=True)
def _gloo_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """gloo picks its interface from the host name; on 127.0.0.1 both nodes find each other."""
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", os.environ.get("GLOO_SOCKET_IFNAME", "lo"))
