"""K-fold cross-validation: the folds themselves, and ``zoo train --folds K`` end to end."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
import torch

from zoo.plugin import DataRequest, UsageError
from zoo_tabular.datasets import fold_indices, load_diabetes


def header_metadata(path: Path) -> dict[str, str]:
    """A safetensors file's metadata, read from its JSON header alone."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length])["__metadata__"]


def test_folds_are_stratified_disjoint_and_cover_every_row():
    labels = torch.tensor([1.0] * 37 + [0.0] * 64)[
        torch.randperm(101, generator=torch.Generator().manual_seed(1))
    ]
    ones = int(labels.sum())
    seen: list[int] = []
    for fold in range(5):
        train, val = fold_indices(labels, 5, fold, seed=7, stratify=True)
        assert set(train.tolist()).isdisjoint(val.tolist())
        assert len(train) + len(val) == 101
        assert len(val) in (20, 21)  # sizes differ by one at most
        assert abs(int(labels[val].sum()) - ones / 5) <= 1  # each fold holds its share of the 1s
        seen += val.tolist()
    assert sorted(seen) == list(range(101))  # every row is validated exactly once
    again = fold_indices(labels, 5, 2, seed=7, stratify=True)[1]
    assert torch.equal(again, fold_indices(labels, 5, 2, seed=7, stratify=True)[1])
    assert not torch.equal(again, fold_indices(labels, 5, 2, seed=8, stratify=True)[1])


def test_fold_options_are_checked(tmp_path: Path):
    def load(**options: object) -> object:
        return load_diabetes(DataRequest(options=dict(options), data_dir=tmp_path, seed=0))

    with pytest.raises(UsageError, match="--fold 5 is out of range for 5 folds"):
        load(folds=5, fold=5)
    bundle = load(folds=4, fold=3)
    assert bundle.meta["split"]["fold"] == 3 and len(bundle.meta["split"]["val_rows"]) in (189, 190)
    assert "fold 4 of 4" in bundle.description


def test_cross_validation_on_the_command_line(zoo_cli, tmp_path: Path):
    result = zoo_cli(
        "train", "tabular.diabetes", "--folds", "5", "--epochs", "2", "--out", "cv", "-q", ok=True
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("fold ")]
    assert [line.split(":")[0] for line in lines] == [f"fold {i}/5" for i in range(1, 6)]
    mean = re.search(r"mean val_accuracy (\d\.\d+) ± (\d\.\d+(?:e-\d+)?) over 5 folds", result.stdout)
    assert mean, result.stdout

    summary = json.loads((tmp_path / "cv" / "folds.json").read_text())
    values = [row["value"] for row in summary["per_fold"]]
    assert len(values) == 5 and summary["mean"] == pytest.approx(sum(values) / 5)
    assert float(mean.group(1)) == pytest.approx(summary["mean"], abs=1e-3)

    # the five validation splits, as the checkpoints record them: disjoint, stratified, all rows
    rows: list[int] = []
    for i in range(5):
        split = json.loads(header_metadata(tmp_path / "cv" / f"fold-{i}" / "last.safetensors")["data_meta"])[
            "split"
        ]
        assert split["fold"] == i and split["folds"] == 5 and split["stratified"]
        assert split["train"] + split["val"] == 759
        rows += split["val_rows"]
    assert sorted(rows) == list(range(759))


def test_a_dataset_without_folds_is_refused(zoo_cli, tmp_path: Path):
    # a model whose dataset declares no fold option, from a throwaway plugin
    site = tmp_path / "site"
    (site / "nofolds").mkdir(parents=True)
    (site / "nofolds" / "__init__.py").write_text(
        "from zoo import DatasetSpec, ModelSpec, Recipe, hookimpl\n"
        "@hookimpl\n"
        "def zoo_register_models(register):\n"
        "    recipes = (Recipe('default', 'x'),)\n"
        "    register(ModelSpec('m', 'no folds', 'regression', 'nofolds:build', 'nofolds.d', recipes))\n"
        "@hookimpl\n"
        "def zoo_register_datasets(register):\n"
        "    register(DatasetSpec('d', 'no folds', 'nofolds:load', {'size': 3}))\n"
    )
    dist = site / "nofolds-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nofolds\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[zoo.plugins]\nnofolds = nofolds\n")
    result = zoo_cli(
        "train", "nofolds.m", "--folds", "3", env={"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "nofolds"}
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot be cross-validated" in result.stderr and "Traceback" not in result.stderr
