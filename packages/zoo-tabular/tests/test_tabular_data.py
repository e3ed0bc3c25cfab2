"""Reading CSV files, splitting and standardizing: the loaders on their own, in-process."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from zoo.plugin import DataBundle, DataError, DataRequest, TensorSplit, UsageError
from zoo_tabular.csvfile import read_table
from zoo_tabular.datasets import (
    load_affine,
    load_csv,
    load_diabetes,
    load_linear,
    load_logistic,
    prediction_features,
)

MakeCsv = Callable[[str, str], Path]


def request(tmp_path: Path, seed: int = 0, **options: object) -> DataRequest:
    return DataRequest(options=dict(options), data_dir=tmp_path, seed=seed)


def train_of(bundle: DataBundle) -> TensorSplit:
    assert isinstance(bundle.train, TensorSplit)
    return bundle.train


def val_of(bundle: DataBundle) -> TensorSplit:
    assert isinstance(bundle.val, TensorSplit)
    return bundle.val


def diabetes_like(rows: int, seed: int = 0) -> str:
    """Rows of 8 features in [-1, 1] and a 0/1 label that depends on two of them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(rows, 8, generator=g) * 2 - 1
    y = ((x[:, 1] + 0.5 * x[:, 5]) > 0).float()
    return "".join(",".join(f"{v:.4f}" for v in r) + f",{int(t)}\n" for r, t in zip(x.tolist(), y.tolist()))


# -- the shipped toy data -------------------------------------------------------
@pytest.mark.parametrize(
    ("loader", "targets"),
    [(load_linear, [2.0, 4.0, 6.0]), (load_affine, [3.0, 5.0, 7.0]), (load_logistic, [0.0, 0.0, 1.0])],
)
def test_toy_data_ships_with_the_package_and_has_no_validation_split(tmp_path, loader, targets):
    bundle = loader(request(tmp_path))
    assert train_of(bundle).x.flatten().tolist() == [1.0, 2.0, 3.0]
    assert train_of(bundle).y.flatten().tolist() == targets
    assert train_of(bundle).y.shape == (3, 1)
    assert bundle.val is None
    assert bundle.meta["feature_names"] == ["x"] and bundle.meta["label"] == "y"


def test_toy_model_accepts_a_user_csv_with_one_feature(tmp_path, make_csv: MakeCsv):
    path = make_csv("line.csv", "".join(f"{i},{3 * i}\n" for i in range(10)))
    bundle = load_linear(request(tmp_path, data=str(path), val_fraction=0.3))
    assert len(train_of(bundle)) == 7 and bundle.val is not None and len(val_of(bundle)) == 3
    assert bundle.meta["source"] == "line.csv"  # the name only: no folders of this machine


# -- formats ---------------------------------------------------------------------
def test_header_semicolons_comments_and_bom_are_understood(make_csv: MakeCsv):
    path = make_csv("t.csv", "\ufeffa;b;label\n# a comment\n1;2;0\n\n3.5;-4e-1;1\n")
    table = read_table(path)
    assert table.header == ["a", "b", "label"]
    assert table.delimiter == ";"
    assert table.rows == [[1.0, 2.0, 0.0], [3.5, -0.4, 1.0]]
    assert table.lines == [3, 5]


def test_tabs_and_gzip(tmp_path: Path):
    path = tmp_path / "t.tsv.gz"
    path.write_bytes(gzip.compress(b"1\t2\t1\n3\t4\t0\n"))
    table = read_table(path)
    assert table.header is None and table.delimiter == "\t"
    assert table.rows == [[1.0, 2.0, 1.0], [3.0, 4.0, 0.0]]


def test_label_column_by_name_or_index(tmp_path, make_csv: MakeCsv):
    path = make_csv("t.csv", "y,x\n2,1\n4,2\n6,3\n")
    by_name = load_linear(request(tmp_path, data=str(path), label_column="y", val_fraction=0.0))
    by_index = load_linear(request(tmp_path, data=str(path), label_column="0", val_fraction=0.0))
    for bundle in (by_name, by_index):
        assert train_of(bundle).y.flatten().tolist() == [2.0, 4.0, 6.0]
        assert train_of(bundle).x.flatten().tolist() == [1.0, 2.0, 3.0]
        assert bundle.meta["label_index"] == 0
    with pytest.raises(UsageError, match="not a column"):
        load_linear(request(tmp_path, data=str(path), label_column="z"))
    with pytest.raises(UsageError, match="out of range"):
        load_linear(request(tmp_path, data=str(path), label_column="5"))


# -- errors that point at the problem -----------------------------------------------
@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("1,2,0\n3,4\n", "line 2", "has 2 values but the first row has 3"),
        ("a,b,c\n1,2,0\n3,x,1\n", "line 3, column 2", "'x' is not a number"),
        ("1,2,0\n3,,1\n", "line 2, column 2", "empty cell"),
        ("1,2,0\n\n3,nan,1\n", "line 3, column 2", "'nan' is not a finite number"),
        ("1,2,0\n3,4,-inf\n", "line 2, column 3", "'-inf' is not a finite number"),
        ("", "bad.csv: ", "is empty"),
        ("\n# only a comment\n", "bad.csv: ", "is empty"),
        ("a,b,c\n", "bad.csv: ", "has a header but no rows"),
    ],
)
def test_bad_files_name_file_line_and_column(make_csv: MakeCsv, text, where, what):
    path = make_csv("bad.csv", text)
    with pytest.raises(DataError) as caught:
        read_table(path)
    message = str(caught.value)
    assert str(path) in message and where in message and what in message


def test_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")


def test_binary_model_rejects_labels_other_than_0_and_1(tmp_path, make_csv: MakeCsv):
    path = make_csv("t.csv", "x,y\n1,0\n2,1\n3,2\n")
    with pytest.raises(DataError, match=r"line 4, column 2: label 2 is not 0 or 1"):
        load_logistic(request(tmp_path, data=str(path)))


def test_the_mlp_is_sized_from_the_csv_and_the_line_fits_one_feature(tmp_path, make_csv: MakeCsv):
    path = make_csv("seven.csv", "".join(",".join(["0.5"] * 7) + f",{i % 2}\n" for i in range(10)))
    bundle = load_diabetes(request(tmp_path, data=str(path)))
    assert bundle.config == {"in_features": 7} and train_of(bundle).x.shape[1] == 7
    assert load_diabetes(request(tmp_path / "empty")).config == {}  # the notes' file: the notes' 8 inputs
    with pytest.raises(DataError, match="tabular.linear takes 1"):
        load_linear(request(tmp_path, data=str(path)))


def test_diabetes_ships_with_the_package(tmp_path: Path):
    bundle = load_diabetes(request(tmp_path / "empty"))  # no --data, nothing in the data folder
    assert len(train_of(bundle)) + len(val_of(bundle)) == 759 and train_of(bundle).x.shape[1] == 8
    assert bundle.description.startswith("bundled diabetes.csv.gz: 759 rows")


def test_val_fraction_zero_trains_on_every_row(tmp_path: Path):
    bundle = load_diabetes(request(tmp_path, val_fraction=0.0))
    assert bundle.val is None and len(train_of(bundle)) == 759
    assert "no validation split" in bundle.description


# -- split and standardization ------------------------------------------------------
def test_split_is_deterministic_and_stratified(tmp_path, make_csv: MakeCsv):
    path = make_csv("d.csv", diabetes_like(200))
    a = load_diabetes(request(tmp_path, seed=3, data=str(path)))
    b = load_diabetes(request(tmp_path, seed=3, data=str(path)))
    c = load_diabetes(request(tmp_path, seed=4, data=str(path)))
    assert torch.equal(val_of(a).x, val_of(b).x) and torch.equal(train_of(a).x, train_of(b).x)
    assert not torch.equal(val_of(a).x, val_of(c).x)
    assert len(val_of(a)) == 40 and len(train_of(a)) == 160
    all_y = torch.cat([train_of(a).y, val_of(a).y])
    ones = int(all_y.sum())
    assert int(val_of(a).y.sum()) == round(ones * 0.2)  # the 1s are split in the same proportion
    assert a.meta["split"] == {"train": 160, "val": 40, "val_fraction": 0.2, "seed": 3, "stratified": True}


def test_val_fraction_zero_and_out_of_range(tmp_path, make_csv: MakeCsv):
    path = make_csv("d.csv", diabetes_like(20))
    assert load_diabetes(request(tmp_path, data=str(path), val_fraction=0.0)).val is None
    with pytest.raises(UsageError, match="--val-fraction"):
        load_diabetes(request(tmp_path, data=str(path), val_fraction=1.0))


def test_standardization_is_fitted_on_the_training_split_only(tmp_path, make_csv: MakeCsv):
    path = make_csv("d.csv", diabetes_like(200))
    raw = load_diabetes(request(tmp_path, data=str(path)))
    scaled = load_diabetes(request(tmp_path, data=str(path), standardize=True))
    stats = scaled.meta["standardize"]
    assert torch.allclose(torch.tensor(stats["mean"]), train_of(raw).x.mean(0), atol=1e-6)
    assert torch.allclose(torch.tensor(stats["std"]), train_of(raw).x.std(0, unbiased=False), atol=1e-6)
    assert torch.allclose(train_of(scaled).x.mean(0), torch.zeros(8), atol=1e-5)
    assert torch.allclose(train_of(scaled).x.std(0, unbiased=False), torch.ones(8), atol=1e-5)
    expected_val = (val_of(raw).x - torch.tensor(stats["mean"])) / torch.tensor(stats["std"])
    assert torch.allclose(val_of(scaled).x, expected_val, atol=1e-6)
    assert raw.meta["standardize"] is None


def test_prediction_applies_the_saved_transform_and_drops_the_label(tmp_path, make_csv: MakeCsv):
    path = make_csv("d.csv", diabetes_like(100))
    bundle = load_diabetes(request(tmp_path, data=str(path), standardize=True))
    row = [0.1 * i for i in range(8)]
    stats = bundle.meta["standardize"]
    expected = (torch.tensor([row]) - torch.tensor(stats["mean"])) / torch.tensor(stats["std"])
    x = prediction_features([row, [*row, 1.0]], bundle.meta, ["a", "b"])
    assert torch.allclose(x, torch.cat([expected, expected]), atol=1e-6)
    with pytest.raises(UsageError, match="input 'c' has 7 value"):
        prediction_features([row[:7]], bundle.meta, ["input 'c'"])


def test_load_csv_returns_float_column_targets(tmp_path, make_csv: MakeCsv):
    path = make_csv("d.csv", "1,0\n2,1\n3,1\n4,0\n5,1\n")
    bundle = load_csv(path, request(tmp_path, val_fraction=0.4), n_features=1, binary=True, model="m")
    assert train_of(bundle).y.dtype == torch.float32 and train_of(bundle).y.shape[1] == 1
    assert len(val_of(bundle)) == 2
