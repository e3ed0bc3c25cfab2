"""Checkpoints written by an earlier zoo still load, evaluate, predict and resume bit for bit.

``tests/data/old-checkpoints/`` holds two run folders made by zoo-core 0.1.0 before the
trainer's state moved into one object (``zoo train tabular.diabetes --epochs 2
--schedule none`` and ``zoo train vision.fc --epochs 2 --schedule none`` on the tiny
MNIST of ``test_distributed._write_idx(data, 200, 0)`` / ``(data, 60, 1)``, CPU,
OMP_NUM_THREADS=1), and ``expected.json`` what that zoo answered for each: ``zoo eval
--json``, ``zoo predict --json`` and the third epoch of ``--resume RUN --epochs 3``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from zoo_testkit import Runner

OLD = Path(__file__).parent / "data" / "old-checkpoints"
EXPECTED = json.loads((OLD / "expected.json").read_text(encoding="utf-8"))
ENV = {"ZOO_LOAD_PLUGINS": "tabular,vision", "OMP_NUM_THREADS": "1", "ZOO_OFFLINE": "1"}


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.fixture
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, list[str], list[str]]:
    """(model, data arguments, predict inputs) with the data each model needs made in tmp_path."""
    model = request.param
    if model == "vision.fc":
        if not _installed("zoo_vision") or not _installed("PIL"):
            pytest.skip("zoo-vision is not installed here")
        import numpy as np
        from PIL import Image
        from test_distributed import _write_idx

        _write_idx(tmp_path / "data", 200, 0)
        _write_idx(tmp_path / "data", 60, 1)
        image = np.zeros((28, 28), np.uint8)
        image[2:10, 17:21] = 255  # class 3's bright bar
        Image.fromarray(image).save(tmp_path / "digit3.png")
        return model, ["--data-dir", str(tmp_path / "data")], [str(tmp_path / "digit3.png")]
    if not _installed("zoo_tabular"):
        pytest.skip("zoo-tabular is not installed here")
    return model, [], ["6,148,72,35,0,33.6,0.627,50"]


MODELS = pytest.mark.parametrize("case", ["tabular.diabetes", "vision.fc"], indirect=True)


@MODELS
def test_old_checkpoints_evaluate_as_they_did(
    zoo_cli: Runner, case: tuple[str, list[str], list[str]], tmp_path: Path
) -> None:
    model, data, _ = case
    run = tmp_path / "old"
    shutil.copytree(OLD / model, run)  # zoo eval draws its pictures into the run folder
    for name in ("best", "last"):
        result = zoo_cli("eval", str(run / f"{name}.safetensors"), "--json", "--device", "cpu", *data, env=ENV)
        assert result.returncode == 0, result.stdout + result.stderr
        if name == "best":
            got, want = json.loads(result.stdout), dict(EXPECTED[model]["eval"])
            assert got.pop("loss") == pytest.approx(want.pop("loss"))
            # every metric it reported then is reported the same; metrics added since come beside them
            assert {k: got.get(k) for k in want} == want


@MODELS
def test_old_checkpoints_predict_as_they_did(zoo_cli: Runner, case: tuple[str, list[str], list[str]]) -> None:
    model, _, inputs = case
    result = zoo_cli("predict", str(OLD / model / "best.safetensors"), *inputs, "--json", env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    got, want = json.loads(result.stdout), EXPECTED[model]["predict"]
    assert [r["output"] for r in got] == pytest.approx([r["output"] for r in want])
    assert [r.get("probability") for r in got] == pytest.approx([r.get("probability") for r in want])


@MODELS
def test_old_runs_resume_bit_for_bit(zoo_cli: Runner, case: tuple[str, list[str], list[str]], tmp_path: Path):
    model, data, _ = case
    run = tmp_path / "run"
    shutil.copytree(OLD / model, run)
    result = zoo_cli("train", model, "--resume", str(run), "--epochs", "3", "--device", "cpu", "--json", *data, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    last, want = json.loads(result.stdout)["last"], EXPECTED[model]["resumed_epoch_3"]
    assert (last["epoch"], last["step"]) == (want["epoch"], want["step"])
    assert last["train_loss"] == want["train_loss"]  # the same numbers, not close ones
    # The held-out loss is one batch of up to 1,024 samples, whose matrix kernel differs
    # between CPU families (AVX-512 against AVX2): the last bits of a float32 may differ
    # from the machine that recorded it, never more.
    assert math.isclose(last["val_loss"], want["val_loss"], rel_tol=1e-6, abs_tol=0.0)
    assert json.loads((run / "outcome.json").read_text())["status"] == "finished"
