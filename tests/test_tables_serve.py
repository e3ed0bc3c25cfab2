"""A classifier trained on a CSV of text categories and missing cells takes raw rows everywhere:
``zoo predict``, serve's ``/v1`` (text rows) and ``/v2`` (the encoded row), and the ONNX export,
all agreeing to 1e-5."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_testkit import run_zoo, serving

pytestmark = pytest.mark.skipif(importlib.util.find_spec("zoo_tabular") is None, reason="needs zoo-tabular")

ROWS = ["north,3,71.5,red", "south,1,,blue", "west,2,40,", "east,9,55,green"]  # missing, unseen


def shop(path: Path) -> Path:
    r = random.Random(4)
    lines = ["town,grade,income,color,bought"]
    for _ in range(300):
        town, grade, income = r.choice(("north", "south", "east", "west")), r.choice((1, 2, 3)), r.gauss(50, 15)
        shown = "" if r.random() < 0.1 else f"{income:.1f}"
        bought = (town in ("north", "east")) + (grade == 3) + (income > 55) >= 2
        lines.append(f"{town},{grade},{shown},{r.choice(('red', 'blue', ''))},{'yes' if bought else 'no'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_raw_rows_agree_across_predict_serve_and_export(tmp_path: Path) -> None:
    shop(tmp_path / "shop.csv")
    run_zoo(
        "train", "tabular.classifier", "--data", "shop.csv", "--target", "bought",
        "--categorical", "grade", "--epochs", "5", "--out", "run", cwd=tmp_path,
    )  # fmt: skip
    printed = json.loads(run_zoo("predict", "run", *ROWS, "--json", cwd=tmp_path).stdout)
    p_yes = np.array([next(t["probability"] for t in r["top"] if t["class"] == "yes") if r["output"] == "yes"
                      else 1 - r["probability"] for r in printed])  # fmt: skip
    encoded = np.array(
        [[71.5, 3, 4, 3], [np.nan, 4, 2, 2], [40, 5, 3, 1], [55, 2, 0, 0]], dtype=np.float32
    )  # income, then town/grade/color indices: 2+ sorted vocabulary, 1 missing, 0 unseen

    with serving("run", cwd=tmp_path) as base:
        v1 = httpx.post(base + "/v1/models/tabular.classifier/predict", json={"inputs": ROWS}, timeout=30)
        assert v1.status_code == 200, v1.text
        answers = v1.json()
        answers = answers.get("predictions", answers) if isinstance(answers, dict) else answers
        assert [a["output"] for a in answers] == [r["output"] for r in printed]
        for a, r in zip(answers, printed, strict=True):
            assert a["probability"] == pytest.approx(r["probability"], abs=1e-5)
        full = encoded[[0, 2, 3]]  # JSON has no NaN: /v2 rows with every number given
        body = {
            "inputs": [{"name": "input", "shape": list(full.shape), "datatype": "FP32", "data": full.ravel().tolist()}]
        }
        v2 = httpx.post(base + "/v2/models/tabular.classifier/infer", json=body, timeout=30)
        assert v2.status_code == 200, v2.text
        scores = np.array(v2.json()["outputs"][0]["data"], dtype=np.float64).reshape(3, 2)
    soft = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    assert np.allclose(soft[:, 1], p_yes[[0, 2, 3]], atol=1e-5)

    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("onnxruntime is not installed")
    import onnxruntime

    run_zoo("export", "run", "--output", "shop.onnx", cwd=tmp_path)
    session = onnxruntime.InferenceSession(str(tmp_path / "shop.onnx"))
    meta = json.loads(session.get_modelmeta().custom_metadata_map["zoo"])
    assert "category" in json.dumps(meta["preprocessing"])
    out = session.run(None, {session.get_inputs()[0].name: encoded})[0]
    soft = np.exp(out) / np.exp(out).sum(axis=1, keepdims=True)
    assert np.allclose(soft[:, 1], p_yes, atol=1e-5)  # missing numbers (NaN) imputed inside the graph
