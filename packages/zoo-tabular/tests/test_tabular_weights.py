"""The published weight sets shipped in the package (built by scripts/build_weights.py)."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import pytest

from zoo.plugin import published_weights

PACKAGE = resources.files("zoo_tabular")
MANIFEST = PACKAGE / "weights" / "weights.json"
pytestmark = pytest.mark.skipif(
    not MANIFEST.is_file(), reason="no weights built yet (scripts/build_weights.py)"
)


def test_manifest_matches_the_files_and_the_declared_weights():
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))["weights"]
    assert [e["model"] for e in entries] == [
        "tabular.linear",
        "tabular.affine",
        "tabular.logistic",
        "tabular.diabetes",
    ]
    for entry in entries:
        data = (PACKAGE / entry["file"]).read_bytes()
        assert len(data) == entry["size"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
        (declared,) = published_weights("zoo_tabular", entry["model"])
        assert declared.file == f"zoo_tabular:{entry['file']}" and declared.value == entry["value"]
    diabetes = entries[-1]
    assert "--val-fraction 0" in diabetes["command"] and "--folds 5" in diabetes["metric_command"]
    assert 0.7 < diabetes["value"] < 0.85 and len(diabetes["per_fold"]) == 5


def test_published_line_predicts_twice_its_input(zoo_cli):
    with resources.as_file(PACKAGE / "weights" / "linear-default.safetensors") as weights:
        result = zoo_cli("predict", str(weights), "4.0", "--json", ok=True)
    assert json.loads(result.stdout)[0]["output"] == pytest.approx(8.0, abs=0.01)
