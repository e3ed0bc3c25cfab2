"""Trust regressions for run folders: never shared, locked by the OS, resumable after a kill or
SIGTERM, repaired after a torn metrics line, and cleaned of temp files left by killed writers."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from safetensors import safe_open
from zoo_testkit import TOY_IMPL, TOY_PLUGIN, Runner, write_plugin

SLEEPY_PLUGIN = """
from zoo import ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("mlp", "3-class MLP, slow batches", "multiclass", "toyplug.impl:build_mlp", "toy.blobs",
                       recipes=(Recipe("default", "slow", {"epochs": 2, "batch_size": 8, "lr": 0.1,
                                                           "method": "slow"}),),
                       config={"hidden": 8}, adapter="sleepy.impl:SlowAdapter"))
"""
SLEEPY_IMPL = """
import signal, time
from pathlib import Path
from zoo.contracts.adapter import ModelAdapter

class SlowAdapter(ModelAdapter):
    def strategies(self):
        def slow(ctx):
            # Each Ctrl-C the trainer has handled leaves a marker file (interrupt-1, interrupt-2):
            # the test sends the next one only once the last was handled.
            handler = signal.getsignal(signal.SIGINT)
            def marked(signum, frame):
                Path(f"interrupt-{len(list(Path().glob('interrupt-*'))) + 1}").touch()
                handler(signum, frame)
            if not getattr(handler, "marks", False):  # once, though each epoch asks again
                marked.marks = True
                signal.signal(signal.SIGINT, marked)
            for x, y in ctx.batches():
                Path("in-batch").touch()  # a batch that lasts until the test is done with it
                deadline = time.monotonic() + 60
                while not Path("batch-may-end").exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
                ctx.train_step(x, y)
        return {**super().strategies(), "slow": slow}
"""


def toy_env(tmp_path: Path, site: Path, load: str = "toy") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(ZOO_LOAD_PLUGINS=load, ZOO_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(site))
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def start(tmp_path: Path, site: Path, *args: str, load: str = "toy") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "zoo", "train", *args, "--quiet", "--device", "cpu"],
        cwd=tmp_path,
        env=toy_env(tmp_path, site, load),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"exited early: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def saved_epoch(path: Path) -> int:
    with safe_open(str(path), framework="pt") as fh:
        return int(fh.metadata()["epoch"])


def strict_records(path: Path) -> list[dict[str, Any]]:
    def refuse(constant: str) -> object:
        raise AssertionError(f"{path} holds {constant}: not strict JSON")

    text = path.read_text(encoding="utf-8")
    assert "Infinity" not in text and "NaN" not in text
    return [json.loads(line, parse_constant=refuse) for line in text.splitlines()]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_two_runs_started_together_get_their_own_folders(toy_site: Path, tmp_path: Path):
    procs = [start(tmp_path, toy_site, "toy.mlp", "--epochs", "3") for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
    folders = sorted(p for p in (tmp_path / "runs" / "toy.mlp").iterdir() if p.name != "latest")
    assert len(folders) == 2
    if folders[0].name.split("-")[:2] == folders[1].name.split("-")[:2]:
        assert folders[1].name == folders[0].name + "-2"
    for folder in folders:
        assert [r["epoch"] for r in strict_records(folder / "metrics.jsonl")] == [1, 2, 3]


def test_live_run_locks_its_folder_and_a_kill_does_not(toy_site: Path, tmp_path: Path, zoo_cli: Runner):
    first = start(tmp_path, toy_site, "toy.mlp", "--epochs", "100000", "--out", "run")
    try:
        wait_for(tmp_path / "run" / "last.safetensors", first)
        second = zoo_cli("train", "toy.mlp", "--resume", "run", sites=(toy_site,))
        assert second.returncode == 2 and "in use by a live run" in second.stderr
        assert "Traceback" not in second.stderr
        third = zoo_cli("train", "toy.mlp", "--out", "run", "--epochs", "1", sites=(toy_site,))
        assert third.returncode == 2 and "Traceback" not in third.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    again = zoo_cli("train", "toy.mlp", "--out", "run", "--epochs", "1", sites=(toy_site,))
    assert again.returncode == 2 and "already holds a run" in again.stderr
    # a killed writer's hidden temp file is cleaned up; a live process's is kept
    dead = tmp_path / "run" / f".last.safetensors.tmp-{dead_pid()}-abcd1234"
    live = tmp_path / "run" / f".best.safetensors.tmp-{os.getpid()}-abcd1234"
    dead.write_bytes(b"partial")
    live.write_bytes(b"partial")
    epoch = saved_epoch(tmp_path / "run" / "last.safetensors")
    resumed = zoo_cli("train", "toy.mlp", "--resume", "run", "--epochs", str(epoch + 1), "--quiet", sites=(toy_site,))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not dead.exists() and live.exists()
    epochs = [r["epoch"] for r in strict_records(tmp_path / "run" / "metrics.jsonl")]
    assert epochs == sorted(set(epochs)) and epochs[-1] == epoch + 1


@contextlib.contextmanager
def held_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's lock from this process, as a live run would."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, str(os.getpid()).encode("ascii"))
        yield
    finally:
        os.close(fd)


def test_out_at_a_locked_empty_folder_is_in_use(toy_site: Path, tmp_path: Path, zoo_cli: Runner):
    with held_lock(tmp_path / "run"):
        proc = zoo_cli("train", "toy.mlp", "--out", "run", "--epochs", "1", sites=(toy_site,))
    assert proc.returncode == 2 and "in use by a live run" in proc.stderr and str(os.getpid()) in proc.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_out_at_a_live_run_with_checkpoints_says_in_use(trained: Path, toy_site: Path, tmp_path: Path, zoo_cli: Runner):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.safetensors").write_bytes((trained / "last.safetensors").read_bytes())
    with held_lock(run):
        proc = zoo_cli("train", "toy.mlp", "--out", "run", "--epochs", "1", sites=(toy_site,))
    assert proc.returncode == 2 and "in use by a live run" in proc.stderr


def test_sigterm_saves_like_ctrl_c_and_the_run_resumes(toy_site: Path, tmp_path: Path, zoo_cli: Runner):
    proc = start(tmp_path, toy_site, "toy.mlp", "--epochs", "100000", "--out", "run")
    wait_for(tmp_path / "run" / "last.safetensors", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "--resume" in out + err
    epoch = saved_epoch(tmp_path / "run" / "last.safetensors")
    resumed = zoo_cli("train", "toy.mlp", "--resume", "run", "--epochs", str(epoch + 1), "--quiet", sites=(toy_site,))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr


def test_second_interrupt_says_the_partial_epoch_is_lost(tmp_path: Path):
    site = tmp_path / "site"
    write_plugin(site, "toy-plugin", "toyplug", {"__init__.py": TOY_PLUGIN, "impl.py": TOY_IMPL}, {"toy": "toyplug"})
    write_plugin(site, "sleepy-plugin", "sleepy", {"__init__.py": SLEEPY_PLUGIN, "impl.py": SLEEPY_IMPL},
                 {"sleepy": "sleepy"})  # fmt: skip
    proc = start(tmp_path, site, "sleepy.mlp", "--out", "run", load="toy,sleepy")
    wait_for(tmp_path / "in-batch", proc)  # inside a batch that does not end by itself
    proc.send_signal(signal.SIGINT)
    wait_for(tmp_path / "interrupt-1", proc)  # the first was handled: the second lands in the same batch
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "partial epoch" in out + err and "lost" in out + err
    assert "Traceback" not in err


def test_torn_metrics_line_is_cut_on_resume(toy_site: Path, tmp_path: Path, zoo_cli: Runner):
    zoo_cli("train", "toy.mlp", "--epochs", "2", "--out", "run", "--quiet", sites=(toy_site,), check=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    with open(metrics, "a", encoding="utf-8") as fh:
        fh.write('{"epoch": 3, "train_lo')
    resumed = zoo_cli("train", "toy.mlp", "--resume", "run", "--epochs", "3", "--quiet", sites=(toy_site,))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "warning" in resumed.stderr
    assert [r["epoch"] for r in strict_records(metrics)] == [1, 2, 3]
    assert "train_lo\n" not in metrics.read_text(encoding="utf-8")


@pytest.mark.parametrize("command", ["plot", "runs"])
def test_plot_and_runs_skip_lines_that_are_not_records(
    trained: Path, toy_site_module: Path, tmp_path: Path, zoo_cli: Runner, command: str
):
    run = tmp_path / "runs" / "copy"
    run.mkdir(parents=True)
    for name in ("best.safetensors", "last.safetensors"):
        (run / name).write_bytes((trained / name).read_bytes())
    lines = (trained / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    junk = ["[1, 2]", "42", '"text"', "null", '{"epoch": "one"}', "{not json"]
    (run / "metrics.jsonl").write_text("\n".join([lines[0], *junk, *lines[1:]]) + "\n", encoding="utf-8")
    proc = zoo_cli(command, str(run if command == "plot" else tmp_path / "runs"), sites=(toy_site_module,))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" in proc.stderr and "Traceback" not in proc.stderr
