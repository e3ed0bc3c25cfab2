"""Predict where a user starts: the one sample ``transforms()`` returns, a folder of pictures, a CSV out."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from serve_testkit import run_zoo

EXAMPLES = Path(__file__).resolve().parents[1] / "packages" / "zoo-vision" / "src" / "zoo_vision" / "examples"
DIABETES_ROW = "-0.29,0.49,0.18,-0.29,0,0,-0.53,-0.03"


def test_one_sample_from_transforms_is_predicted_as_a_batch_of_one() -> None:
    import zoo
    from zoo.errors import UsageError

    cnn = zoo.load("vision.cnn")
    picture = str(EXAMPLES / "digit-7.png")
    sample = cnn.transforms()(picture)
    assert tuple(sample.shape) == (1, 28, 28)
    assert cnn.predict(sample)[0]["output"] == cnn.predict(picture)[0]["output"] == 7
    assert cnn.predict(sample.numpy())[0]["output"] == 7
    assert len(cnn.predict(sample.unsqueeze(0).repeat(2, 1, 1, 1))) == 2  # a batch stays a batch
    with pytest.raises(UsageError, match=r"cannot take a tensor of shape \(3, 28, 28\)") as caught:
        cnn.predict(sample.repeat(3, 1, 1))
    assert "(N, 1, 28, 28)" in str(caught.value.hint)
    mlp = zoo.load("tabular.diabetes")
    row = mlp.transforms()(DIABETES_ROW)
    assert tuple(row.shape) == (8,)
    assert mlp.predict(row)[0]["probability"] == pytest.approx(mlp.predict(DIABETES_ROW)[0]["probability"])


def _pictures(folder: Path) -> list[int]:
    """The ten example digits, some in a subfolder, beside files that are not pictures."""
    (folder / "more").mkdir(parents=True)
    digits = list(range(10))
    for d in digits:
        shutil.copy(EXAMPLES / f"digit-{d}.png", folder / ("more" if d >= 5 else ".") / f"digit-{d}.png")
    (folder / "notes.txt").write_text("not a picture\n", encoding="utf-8")
    shutil.copy(EXAMPLES / "digit-1.png", folder / ".hidden.png")
    return digits


def test_a_folder_of_pictures_becomes_one_csv_row_per_picture(tmp_path: Path) -> None:
    digits = _pictures(tmp_path / "pictures")
    done = run_zoo("predict", "vision.cnn", "pictures", "--out", "preds.csv", cwd=tmp_path)
    assert done.stdout == "" and "wrote 10 prediction(s) to preds.csv" in done.stderr
    with (tmp_path / "preds.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["path", "class", "probability"]
    assert len(rows) == len(digits)
    for row in rows:
        assert (tmp_path / row["path"]).is_file()
        assert row["class"] == Path(row["path"]).stem.removeprefix("digit-"), row
        assert 0.5 < float(row["probability"]) <= 1.0
    printed = run_zoo("predict", "vision.cnn", "pictures/more", cwd=tmp_path).stdout.splitlines()
    assert [line.split(" -> ")[0] for line in printed] == [f"pictures/more/digit-{d}.png" for d in range(5, 10)]


def test_an_output_that_is_an_input_or_not_a_csv_is_refused(tmp_path: Path) -> None:
    _pictures(tmp_path / "pictures")
    shutil.copy(EXAMPLES / "digit-3.png", tmp_path / "pictures" / "three.csv")
    for out, says in (
        ("pictures/digit-0.png", "written as CSV, to a FILE.csv"),
        ("pictures/three.csv", "is the input"),  # a picture given by name, whatever its name ends with
    ):
        args = ("pictures/three.csv", "pictures", "--out", out)
        refused = run_zoo("predict", "vision.cnn", *args, cwd=tmp_path, check=False)
        assert refused.returncode == 2 and says in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    assert (tmp_path / "pictures" / "three.csv").read_bytes() == (EXAMPLES / "digit-3.png").read_bytes()
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = run_zoo("predict", "vision.cnn", "empty", cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "a folder without pictures" in refused.stderr


def test_tabular_csv_stays_the_input_file(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(f"{DIABETES_ROW}\n{DIABETES_ROW.replace('-0.29', '0.5')}\n", encoding="utf-8")
    run_zoo("predict", "tabular.diabetes", "--csv", "rows.csv", "--out", "preds.csv", cwd=tmp_path)
    with (tmp_path / "preds.csv").open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["input"] for r in table] == ["rows.csv:1", "rows.csv:2"]
    assert all(r["label"] in ("0", "1") for r in table)
    refused = run_zoo(
        "predict", "tabular.diabetes", "--csv", "rows.csv", "--out", "rows.csv", cwd=tmp_path, check=False
    )
    assert refused.returncode == 2 and "is the input rows.csv" in refused.stderr
    assert rows.read_text(encoding="utf-8").startswith(DIABETES_ROW)
