"""tabular.classifier and tabular.regressor on CSVs the tests write: the CLI end to end, and the errors."""

from __future__ import annotations

import importlib.util
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch

import zoo
from zoo.plugin import DataError, DataRequest, UsageError
from zoo_tabular import anycsv, csvfile

SPECIES = {"setosa": (5.0, 1.5, 0.25), "versicolor": (5.9, 4.3, 1.3), "virginica": (6.6, 5.5, 2.0)}


def flowers(path: Path, rows_per_class: int = 40) -> Path:
    """Iris-like rows with the text label in the middle column."""
    r = random.Random(3)
    lines = ["sepal_length,petal_length,species,petal_width"]
    for name, (a, b, c) in SPECIES.items():
        for _ in range(rows_per_class):
            lines.append(f"{r.gauss(a, 0.35):.2f},{r.gauss(b, 0.3):.2f},{name},{r.gauss(c, 0.15):.2f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load(loader, path: Path, **options) -> Any:
    return loader(DataRequest({"data": str(path), **options}, path.parent, seed=0))


def test_classifier_learns_text_labels_and_predict_prints_them(zoo_cli, tmp_path):
    flowers(tmp_path / "flowers.csv")
    trained = zoo_cli(
        "train", "tabular.classifier", "--data", "flowers.csv", "--target", "species", "--out", "run", ok=True
    )
    assert "3 classes" in trained.stdout and "stratified" in trained.stdout
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["val_accuracy"] >= 0.9 and last["val_predicted_classes"] == 3

    plain = zoo_cli("predict", "run", "5.0,1.4,0.2", "6.7,5.6,2.1", "--top", "2", ok=True)
    lines = plain.stdout.splitlines()
    assert lines[0].startswith("5.0,1.4,0.2 -> setosa  p=") and "top: setosa" in lines[0]
    assert lines[1].startswith("6.7,5.6,2.1 -> virginica")
    # a CSV of the training file's layout: its text label column is skipped
    as_json = json.loads(zoo_cli("predict", "run", "--csv", "flowers.csv", "--json", ok=True).stdout)
    assert len(as_json) == 120 and as_json[0]["input"] == "flowers.csv:2"
    assert sum(r["output"] == "setosa" for r in as_json[:40]) >= 36
    info = zoo_cli("info", "run", ok=True).stdout
    assert '"classes": ["setosa", "versicolor", "virginica"]' in info

    wrong = zoo_cli("predict", "run", "1,2")
    assert (
        wrong.returncode == 2 and "has 2 value(s), but the model reads rows of 3 or 4 values" in wrong.stderr
    )


def test_eval_json_reports_each_class_by_name_with_its_count(zoo_cli, tmp_path):
    counts = {"setosa": 30, "versicolor": 20, "virginica": 10}  # unequal, so a count names its class
    r = random.Random(5)
    lines = ["sepal_length,petal_length,species,petal_width"]
    for name, n in counts.items():
        a, b, c = SPECIES[name]
        for _ in range(n):
            lines.append(f"{r.gauss(a, 0.35):.2f},{r.gauss(b, 0.3):.2f},{name},{r.gauss(c, 0.15):.2f}")
    (tmp_path / "flowers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    zoo_cli(
        "train", "tabular.classifier", "--data", "flowers.csv", "--target", "species", "--out", "run", ok=True
    )
    done = zoo_cli("eval", "run", "--data", "flowers.csv", "--json", ok=True)
    metrics = json.loads(done.stdout)
    report = metrics["per_class"]
    assert {name: row["support"] for name, row in report.items()} == counts
    assert metrics["samples"] == sum(counts.values())
    for row in report.values():
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 and 0 <= row["f1"] <= 1
    assert report["setosa"]["recall"] >= 0.9  # the easy class is found
    plain = zoo_cli("eval", "run", "--data", "flowers.csv", ok=True).stdout
    assert "per class:" in plain and all(f"{name} " in plain for name in counts)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs onnx and onnxruntime")
def test_classifier_exports_to_onnx_with_its_classes(zoo_cli, tmp_path):
    import onnxruntime

    flowers(tmp_path / "flowers.csv", rows_per_class=10)
    zoo_cli(
        "train",
        "tabular.classifier",
        "--data",
        "flowers.csv",
        "--target",
        "2",
        "--epochs",
        "2",
        "--out",
        "r",
        ok=True,
    )
    done = zoo_cli("export", "r", "--output", "flowers.onnx", ok=True)
    assert "max abs diff" in done.stdout
    session = onnxruntime.InferenceSession(str(tmp_path / "flowers.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["zoo"])["labels"] == ["setosa", "versicolor", "virginica"]
    scores = session.run(None, {session.get_inputs()[0].name: torch.zeros(2, 3).numpy()})[0]
    assert scores.shape == (2, 3)


def test_regressor_answers_in_the_targets_units(zoo_cli, tmp_path):
    r = random.Random(5)
    lines = ["size,age,price"]
    for _ in range(400):
        size, age = r.uniform(50, 150), r.uniform(0, 40)
        lines.append(f"{size:.1f},{age:.1f},{1000 + 20 * size - 15 * age + r.gauss(0, 20):.1f}")
    (tmp_path / "houses.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    trained = zoo_cli(
        "train", "tabular.regressor", "--data", "houses.csv", "--hidden", "32,16", "--out", "run", ok=True
    )
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["val_r2"] > 0.97 and math.sqrt(last["val_mse"]) < 120 and last["val_mae"] < 100
    assert "val_r2" in trained.stdout
    predicted = json.loads(zoo_cli("predict", "run", "100,10", "--json", ok=True).stdout)
    assert abs(predicted[0]["output"] - 2850) < 100  # 1000 + 20*100 - 15*10, in the target's units


def test_diabetes_points_other_csvs_to_the_new_models(zoo_cli, tmp_path):
    flowers(tmp_path / "flowers.csv", rows_per_class=5)
    done = zoo_cli("train", "tabular.diabetes", "--data", "flowers.csv")
    assert done.returncode == 2 and "Traceback" not in done.stderr  # text cells: not the diabetes MLP's data
    assert "tabular.classifier" in done.stderr and "tabular.regressor" in done.stderr
    missing = zoo_cli("train", "tabular.classifier", "--data", "flowers.csv", "--target", "kind")
    assert missing.returncode == 2
    assert (
        "--target 'kind' is not a column" in missing.stderr and "sepal_length, petal_length" in missing.stderr
    )
    no_data = zoo_cli("train", "tabular.regressor")
    assert no_data.returncode == 2 and "--data FILE.csv" in no_data.stderr


def test_classifier_bundle_keeps_names_splits_by_class_and_standardizes(tmp_path):
    bundle = load(anycsv.load_classifier, flowers(tmp_path / "f.csv", rows_per_class=10), target="species")
    assert bundle.meta["classes"] == ["setosa", "versicolor", "virginica"] and bundle.num_classes == 3
    assert bundle.meta["feature_names"] == ["sepal_length", "petal_length", "petal_width"]
    assert bundle.config["in_features"] == 3 and bundle.config["num_classes"] == 3
    assert torch.bincount(bundle.val.y).tolist() == [2, 2, 2]  # stratified: 20 % of each class
    # raw numbers go in; the model standardizes them with the training rows' statistics
    table = bundle.config["table"]
    assert torch.allclose(
        bundle.train.x.mean(dim=0).double(), torch.tensor(table["mean"]).double(), atol=1e-4
    )
    assert len(table["std"]) == 3 and min(table["std"]) > 0 and bundle.meta["table"]["mean"] == table["mean"]
    numbers = tmp_path / "n.csv"
    numbers.write_text("a,b\n" + "".join(f"{i},{1.0 if i % 2 else 2}\n" for i in range(10)), encoding="utf-8")
    assert load(anycsv.load_classifier, numbers).meta["classes"] == ["1", "2"]  # 1.0 and 1 are one class


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,y\n1,x\n2,x\n3,x\n", "holds one value ('x') in every row"),
        ("a,y\n1,x\n2,x\n3,z\n", "class 'z' of 'y' has a single row (line 4)"),
        ("a,y\n1,x\n2,\n3,z\n", "line 3, column 2: missing target value in column 'y' (1 row(s))"),
        (
            "a,b,y\n" + "".join(f"7,,{'xz'[i % 2]}\n" for i in range(10)),
            "no feature column left to learn from",
        ),
        (
            "a,b,y\n9,1e31,x\n" + "".join(f"{i},3,{'xz'[i % 2]}\n" for i in range(10)),
            "line 2: column 'b' holds 1e+31",
        ),
    ],
)
def test_classifier_data_errors_say_where(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load(anycsv.load_classifier, path)
    assert message in caught.value.message and str(path) in caught.value.message


def test_regressor_data_errors_and_scale(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("x,y\n1,10\n2,20\n3,30\n4,40\n5,50\n", encoding="utf-8")
    bundle = load(anycsv.load_regressor, path)
    assert (
        bundle.config["target_std"] > 0
        and bundle.meta["target_scale"]["mean"] == bundle.config["target_mean"]
    )
    path.write_text("x,y\n1,10\n2,ten\n3,30\n", encoding="utf-8")
    with pytest.raises(
        DataError, match="line 3, column 2: 'ten' in target column 'y' is not a number"
    ) as caught:
        load(anycsv.load_regressor, path)
    assert "tabular.classifier" in str(caught.value.hint)
    path.write_text("x,y\n1,7\n2,7\n3,7\n", encoding="utf-8")
    with pytest.raises(DataError, match="is 7 in every row"):
        load(anycsv.load_regressor, path)
    with pytest.raises(UsageError, match="--target 5 is out of range"):
        load(anycsv.load_regressor, path, target=5)


def test_csv_size_limits_are_named(tmp_path, monkeypatch):
    path = tmp_path / "wide.csv"
    path.write_text("1,2,3,4\n" * 10, encoding="utf-8")
    monkeypatch.setattr(csvfile, "MAX_CELLS", 20)
    with pytest.raises(DataError, match="zoo reads at most .* rows and 20 cells"):
        csvfile.read_cells(path)
    monkeypatch.setattr(csvfile, "MAX_COLUMNS", 3)
    with pytest.raises(DataError, match="has 4 columns, more than the 3 zoo reads"):
        csvfile.read_cells(path)


def test_transforms_and_decode_give_what_predict_gives(train_here, tmp_path):
    from zoo.plugin import adapter_for

    run = train_here(
        "tabular.classifier",
        data=str(flowers(tmp_path / "f.csv", rows_per_class=10)),
        target="species",
        epochs=3,
    )
    loaded = zoo.load(run.run_dir / "best.safetensors")
    meta = loaded.metadata["data_meta"]
    adapter = adapter_for(loaded.spec)
    inputs = ["5.0,1.4,0.2", "6.7,5.6,2.1"]
    predicted = adapter.predict(loaded.model, inputs, meta, {"top": 2}, torch.device("cpu"))
    transform = adapter.transforms(meta)
    x = torch.stack([transform(text) for text in inputs])
    assert torch.equal(x[0], torch.tensor([5.0, 1.4, 0.2]))  # raw: the model standardizes inside
    with torch.no_grad():
        decoded = adapter.decode(loaded.model(x), meta, {"top": 2})
    assert [{k: v for k, v in p.items() if k not in ("input", "values")} for p in predicted] == decoded
    assert {r["output"] for r in decoded} <= set(SPECIES) and len(decoded[0]["top"]) == 2
