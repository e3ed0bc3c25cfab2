"""The README's early-stopping example trains a model worth serving: `latest`, served, is not a constant.

Its run becomes ``runs/tabular.diabetes/latest``, the folder the README exports and serves,
so a patience that stops at the majority-class rate would serve one answer for every row.
"""

from __future__ import annotations

import gzip
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from serve_testkit import serving, zoo_env

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]
DIABETES = ROOT / "packages" / "zoo-tabular" / "src" / "zoo_tabular" / "data" / "diabetes.csv.gz"


def _early_stopping_line() -> str:
    """The library example's line that trains the diabetes MLP with early stopping, as the README has it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## As a library") :]
    lines = [line for line in section.splitlines() if "zoo.EarlyStopping(" in line and "tabular.diabetes" in line]
    assert lines, "the README's library example no longer trains tabular.diabetes with zoo.EarlyStopping"
    return lines[0].strip()


def test_the_early_stopping_example_serves_a_model_that_is_not_a_constant(tmp_path: Path) -> None:
    line = _early_stopping_line()
    assert re.search(r"EarlyStopping\((\d+)\)", line)
    code = f"import zoo\n{line}\nprint(run.status)\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=zoo_env(ZOO_NO_PLOTS="1"),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with gzip.open(DIABETES, "rt", encoding="utf-8") as f:
        rows = [line.rsplit(",", 1) for line in f.read().splitlines()]
    features, labels = [r[0] for r in rows], [int(r[1]) for r in rows]
    with serving("runs/tabular.diabetes/latest", cwd=tmp_path) as base:
        url = base + "/v1/models/tabular.diabetes/predict"
        answers = []
        for start in range(0, len(features), 64):  # the server takes 64 inputs per request
            r = httpx.post(url, json={"inputs": features[start : start + 64]}, timeout=60)
            assert r.status_code == 200, r.text
            answers += r.json()
    predicted = [a["label"] for a in answers]
    probabilities = [a["probability"] for a in answers]
    assert set(predicted) == {0, 1}, "the served model gives one label for every row"
    assert statistics.pstdev(probabilities) > 0.1
    majority = max(labels.count(0), labels.count(1)) / len(labels)
    accuracy = sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)
    assert accuracy > majority + 0.03, (accuracy, majority)  # better than always answering the larger class
