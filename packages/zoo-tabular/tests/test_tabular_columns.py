"""Columns as they come: text categories, numbers marked categorical, missing cells, IDs,
--ignore/--keep, imbalanced classes and --metric, through the real CLI on CSVs made here."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

import zoo
from zoo.plugin import DataRequest, UsageError
from zoo_tabular import anycsv

TOWNS = ("north", "south", "east", "west")


def people(path: Path, rows: int = 400, seed: int = 1) -> Path:
    """A table with every kind of column: an ID, text, numbers meant as categories, missing
    cells written three ways, an all-missing and a constant column, free text, a yes/no target."""
    r = random.Random(seed)
    lines = ["id,town,grade,income,color,blank,const,note,bought"]
    for i in range(rows):
        town, grade = r.choice(TOWNS), r.choice((1, 2, 3))
        income = r.gauss(50, 15)
        color = r.choice(("red", "blue", ""))
        score = (town in ("north", "east")) + (grade == 3) + (income > 55) + 0.3 * r.random()
        shown = r.choice(("", "NA", "?")) if r.random() < 0.15 else f"{income:.1f}"
        lines.append(f"{100 + i},{town},{grade},{shown},{color},,5,note {i},{'yes' if score > 1.5 else 'no'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_columns_are_typed_described_and_kept_in_the_checkpoint(zoo_cli, tmp_path):
    people(tmp_path / "people.csv")
    trained = zoo_cli(
        "train", "tabular.classifier", "--data", "people.csv", "--target", "bought",
        "--categorical", "grade", "--epochs", "25", "--out", "run", ok=True,
    )  # fmt: skip
    out = trained.stdout
    assert "income: number, missing cells: median + indicator" in out
    assert "town: category (4 values + unknown + missing)" in out
    assert "grade: category (3 values + unknown + missing)" in out  # numbers marked categorical
    assert "color: category (2 values + unknown + missing)" in out  # empty cells: the missing slot
    assert "id: left out (an ID" in out and "note: left out (an ID" in out
    assert "blank: left out (every cell is missing)" in out and "const: left out (constant: 5" in out
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["val_accuracy"] > 0.85 and {"val_macro_f1", "val_roc_auc", "val_log_loss"} <= set(last)
    meta = zoo.load(tmp_path / "run" / "best.safetensors").metadata["data_meta"]["table"]
    assert meta["vocab"][meta["categorical"].index("town")] == sorted(TOWNS)
    assert meta["dropped"]["blank"] == "every cell is missing" and "income" in meta["numeric"]

    # raw rows in the file's column order (all columns, all but the target, or the used ones)
    rows = ["7,north,3,80,red,,5,x,", "7,north,3,80,red,,5,x", "north,3,80,red", "south,1,,purple"]
    predicted = json.loads(zoo_cli("predict", "run", *rows, "--json", ok=True).stdout)
    assert [p["output"] for p in predicted[:3]] == ["yes"] * 3
    assert predicted[0]["probability"] == pytest.approx(predicted[2]["probability"], abs=1e-6)
    assert predicted[3]["output"] == "no"  # a colour never seen in training: the unknown slot

    # --csv: columns reordered by name, the target column absent, left-out columns ignored
    lines = (tmp_path / "people.csv").read_text().splitlines()[1:21]
    order = ["color", "income", "note", "grade", "town"]
    header = ["id", "town", "grade", "income", "color", "blank", "const", "note", "bought"]
    picked = [",".join(dict(zip(header, line.split(","), strict=True))[c] for c in order) for line in lines]
    (tmp_path / "shuffled.csv").write_text(
        ",".join(order) + "\n" + "\n".join(picked) + "\n", encoding="utf-8"
    )
    by_csv = json.loads(zoo_cli("predict", "run", "--csv", "shuffled.csv", "--json", ok=True).stdout)
    one_by_one = json.loads(zoo_cli("predict", "run", *lines, "--json", ok=True).stdout)
    assert len(by_csv) == 20
    for a, b in zip(by_csv, one_by_one, strict=True):
        assert a["output"] == b["output"] and a["probability"] == pytest.approx(b["probability"], abs=1e-5)


def test_bad_inputs_are_one_clear_error(zoo_cli, tmp_path):
    people(tmp_path / "people.csv", rows=60)
    base = ("train", "tabular.classifier", "--data", "people.csv", "--target", "bought", "--epochs", "1")
    cases = {
        ("--metric", "speed"): "unknown --metric 'speed'",
        ("--ignore", "bought"): "'bought' is the target column",
        ("--ignore", "nope"): "--ignore names 'nope', not a column of the file",
        ("--encoding", "bits"): "unknown --encoding 'bits'",
        ("--max-categories", "3", "--keep", "id,note"): "category column 'town' has 4 distinct values",
        ("--label-column", "town"): "--target 'bought' and --label-column 'town' disagree",
    }
    for extra, message in cases.items():
        done = zoo_cli(*base, *extra)
        assert done.returncode == 2 and message in done.stderr, (extra, done.stderr)
        assert "Traceback" not in done.stderr
    zoo_cli(*base, "--ignore", "note,id", "--out", "run", ok=True)
    (tmp_path / "other.csv").write_text("town,grade,weight\nnorth,1,3\n", encoding="utf-8")
    wrong = zoo_cli("predict", "run", "--csv", "other.csv")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "has column(s) 'weight' the model was not trained on" in wrong.stderr
    assert "lacks the feature column(s) 'income', 'color'" in wrong.stderr


def test_keep_uses_an_id_column_and_label_column_is_target(tmp_path):
    path = people(tmp_path / "p.csv", rows=60)
    request = DataRequest({"data": str(path), "label_column": "bought", "keep": "id"}, tmp_path, seed=0)
    bundle = anycsv.load_classifier(request)
    assert "id" in bundle.meta["table"]["numeric"] and bundle.meta["label"] == "bought"
    with pytest.raises(UsageError, match="--keep names 'ID'"):
        anycsv.load_classifier(DataRequest({"data": str(path), "keep": "ID"}, tmp_path, seed=0))


def rare(path: Path, rows: int = 2000, seed: int = 0) -> Path:
    """A 3 %-positive target that two noisy features predict only in part."""
    r = random.Random(seed)
    lines = ["a,b,kind,y"]
    for _ in range(rows):
        positive = r.random() < 0.03
        a = r.gauss(1.2 if positive else 0.0, 1.0)
        b = r.gauss(0.8 if positive else 0.0, 1.0)
        kind = r.choice("pq") if not positive else r.choice("pqr")
        lines.append(f"{a:.3f},{b:.3f},{kind},{int(positive)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_class_weight_auto_beats_none_on_balanced_accuracy(train_here, tmp_path):
    data = str(rare(tmp_path / "rare.csv"))
    scores = {}
    for how in ("none", "auto"):
        run = train_here("tabular.classifier", data=data, class_weight=how, epochs=8, quiet=True)
        scores[how] = run.history[-1]["val_balanced_accuracy"]
    assert scores["none"] < 0.6 and scores["auto"] > scores["none"] + 0.1, scores
    balanced = train_here("tabular.classifier", data=data, balanced_sampling=True, epochs=3)
    assert "balanced: 3072 training rows by repetition" in balanced.printed  # 2 x the 1,536 negatives
    assert balanced.history[-1]["val_balanced_accuracy"] > scores["none"] + 0.1


def test_metric_macro_f1_picks_its_own_best_epoch(train_here, tmp_path):
    data = str(rare(tmp_path / "rare.csv", rows=1500, seed=2))
    run = train_here(
        "tabular.classifier", data=data, metric="macro_f1", class_weight="auto", epochs=12, quiet=True
    )
    f1 = [r["val_macro_f1"] for r in run.history]
    accuracy = [r["val_accuracy"] for r in run.history]
    best = zoo.load(run.run_dir / "best.safetensors").metadata
    assert best["epoch"] == f1.index(max(f1)) + 1
    assert accuracy.index(max(accuracy)) != f1.index(max(f1))
    assert torch.tensor(f1).max() >= f1[-1]


def test_confusion_picture_after_training_and_from_eval(zoo_cli, tmp_path):
    pytest.importorskip("matplotlib")
    people(tmp_path / "people.csv", rows=120)
    zoo_cli("train", "tabular.classifier", "--data", "people.csv", "--target", "bought", "--epochs", "3",
            "--out", "run", ok=True)  # fmt: skip
    zoo_cli("plot", "run", ok=True)  # what training starts in the background, in the foreground
    drawn = tmp_path / "run" / "confusion.png"
    assert drawn.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    drawn.unlink()
    done = zoo_cli("eval", "run", "--data", "people.csv", "--json", ok=True)
    result = json.loads(done.stdout)
    assert result["samples"] == 120 and sum(map(sum, result["confusion"])) == 120
    assert f"confusion matrix: run{'/'}confusion.png" in done.stderr and drawn.read_bytes()[:4] == b"\x89PNG"


def test_residuals_picture_from_eval_of_a_regressor(zoo_cli, tmp_path):
    pytest.importorskip("matplotlib")
    r = random.Random(2)
    lines = ["size,town,price"] + [
        f"{s:.1f},{t},{10 * s + (50 if t == 'a' else 0) + r.gauss(0, 5):.1f}"
        for s, t in ((r.uniform(1, 20), r.choice("abc")) for _ in range(150))
    ]
    (tmp_path / "prices.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    zoo_cli("train", "tabular.regressor", "--data", "prices.csv", "--epochs", "3", "--out", "reg", ok=True)
    done = zoo_cli("eval", "reg", "--data", "prices.csv", ok=True)
    assert "samples: 150" in done.stdout and f"residuals: reg{'/'}residuals.png" in done.stderr
    drawn = tmp_path / "reg" / "residuals.png"
    assert drawn.read_bytes()[:4] == b"\x89PNG"
    drawn.unlink()
    zoo_cli("plot", "reg", ok=True)  # as after training: the best checkpoint on its held-out rows
    assert drawn.read_bytes()[:4] == b"\x89PNG"
