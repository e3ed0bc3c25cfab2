"""The published weight sets and example digits shipped in the package."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest

from zoo.plugin import published_weights

PACKAGE = resources.files("zoo_vision")
MANIFEST = PACKAGE / "weights" / "weights.json"
pytestmark = pytest.mark.skipif(
    not MANIFEST.is_file(), reason="no weights built yet (scripts/build_weights.py)"
)


def test_manifest_matches_the_files_and_the_declared_weights():
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))["weights"]
    assert {e["model"] for e in entries} == {"vision.fc", "vision.cnn"}
    for entry in entries:
        data = (PACKAGE / entry["file"]).read_bytes()
        assert len(data) == entry["size"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
        (declared,) = published_weights("zoo_vision", entry["model"])
        assert declared.file == f"zoo_vision:{entry['file']}" and declared.sha256 == entry["sha256"]
        assert declared.split.startswith("test") and declared.value >= (
            0.99 if "cnn" in entry["model"] else 0.98
        )


def test_published_cnn_reads_every_example_digit(cli, tmp_path: Path):
    entry = next(
        e for e in json.loads(MANIFEST.read_text(encoding="utf-8"))["weights"] if e["model"] == "vision.cnn"
    )
    with (
        resources.as_file(PACKAGE / entry["file"]) as weights,
        resources.as_file(PACKAGE / "examples") as examples,
    ):
        pictures = sorted(Path(examples).glob("digit-*.png"))
        assert len(pictures) == 10
        result = cli("predict", str(weights), *map(str, pictures), "--json", cwd=tmp_path)
    predicted = [row["output"] for row in json.loads(result.stdout)]
    assert predicted == [int(p.stem.split("-")[1]) for p in pictures]
