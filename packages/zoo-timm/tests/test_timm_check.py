"""``zoo check timm`` on a tiny test model: train, evaluate, predict, export ONNX and pt2, serve."""

from __future__ import annotations

from pathlib import Path

from conftest import Cli


def test_zoo_check_passes_with_a_test_model(cli: Cli, tmp_path: Path) -> None:
    done = cli("check", "timm", cwd=tmp_path, env={"ZOO_TIMM_MODELS": "test_resnet"}, timeout=600)
    assert "timm.test_resnet: exports to onnx and pt2" in done.stdout
    assert "timm.test_resnet: serves a round trip" in done.stdout
    assert "FAIL" not in done.stdout, done.stdout  # and it exited 0: cli() checks that
