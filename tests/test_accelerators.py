"""Accelerator paths: mixed precision on CUDA, MPS or an NPU, interrupted, resumed, evaluated on the CPU.

Each case runs only where `zoo devices` says its device is available, and skips elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from zoo_testkit import Runner

CASES = [("cuda", "fp16"), ("cuda", "bf16"), ("mps", "fp16"), ("npu", "fp16"), ("npu", "bf16")]


@pytest.fixture(scope="session")
def available_devices() -> set[str]:
    """The device kinds `zoo devices --json` reports as available on this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env["ZOO_LOAD_PLUGINS"] = ""
    done = subprocess.run(
        [sys.executable, "-m", "zoo", "devices", "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return {d["name"] for d in json.loads(done.stdout) if d["available"]}


@pytest.mark.parametrize(("device", "precision"), CASES)
def test_mixed_precision_trains_resumes_and_evaluates_on_cpu(
    zoo_cli: Runner, toy_site: Path, tmp_path: Path, available_devices: set[str], device: str, precision: str
) -> None:
    if device not in available_devices:
        pytest.skip(f"no {device} device here")
    run = tmp_path / "run"
    args = (
        "toy.mlp", "--device", device, "--precision", precision, "--method", "interrupt", "--samples", "300",
        "--batch-size", "8", "--epochs", "3", "--seed", "1", "--out", str(run),
    )  # fmt: skip
    # Ctrl-C after batch 5 of epoch 2 (the toy plugin's "interrupt" method sends it).
    stopped = zoo_cli("train", *args, sites=(toy_site,), env={"TOY_SIGINT": "2:5:1"})
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert f"precision {precision}" in stopped.stdout
    info = zoo_cli("info", str(run / "last.safetensors"), "--json", sites=(toy_site,), check=True)
    meta: dict[str, Any] = json.loads(info.stdout)
    assert int(meta["epoch"]) == 1 and int(meta["step_in_epoch"]) == 6
    zoo_cli("train", "toy.mlp", "--resume", str(run), "--quiet", sites=(toy_site,), check=True)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    evaluated = json.loads(
        zoo_cli(
            "eval", str(run / "last.safetensors"), "--device", "cpu", "--json", sites=(toy_site,), check=True
        ).stdout
    )
    assert math.isfinite(evaluated["loss"])
    # The same weights in fp32 on the CPU: the accuracy the run logged, give or take rounding.
    assert abs(evaluated["accuracy"] - rows[-1]["val_accuracy"]) <= 0.05
    assert evaluated["accuracy"] > 0.8
