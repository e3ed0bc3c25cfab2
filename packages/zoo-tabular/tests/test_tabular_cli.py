"""End to end through the installed ``zoo`` command: train, eval, predict, plot, errors."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import torch

import zoo
from zoo_tabular.datasets import split_indices

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def predictions(result) -> list[dict]:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_linear_grid_search_run_can_be_evaluated_predicted_and_plotted(zoo_cli, tmp_path):
    trained = zoo_cli(
        "train", "tabular.linear", "--method", "grid", "--epochs", "1", "--out", "grid", ok=True
    )
    assert "w=0.0  MSE=18.6667" in trained.stdout  # every w's MSE is printed, as in the notes
    assert "best w=2.0  MSE=0" in trained.stdout
    run = tmp_path / "grid"
    rows = (run / "grid.csv").read_text().splitlines()
    assert rows[0] == "w,mse" and len(rows) == 42 and "2.0,0" in rows
    # the grid search ran (not a gradient method): one jump to the best point
    assert (run / "fit.csv").read_text().splitlines() == ["epoch,method,updates", "1,grid,1"]
    assert (run / "grid.png").exists() == HAS_MATPLOTLIB
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["val_mse"] == 0.0

    predicted = predictions(zoo_cli("predict", "grid/best.safetensors", "4.0", "--json"))
    assert predicted[0]["input"] == "4.0" and predicted[0]["output"] == 8.0
    # a leading minus sign is a number, not an option (as the README shows: zoo predict CKPT -0.5)
    negative = zoo_cli("predict", "grid/best.safetensors", "-0.5", "-3", "--json")
    assert [(r["input"], r["output"]) for r in predictions(negative)] == [("-0.5", -1.0), ("-3", -6.0)]

    evaluated = zoo_cli("eval", "grid/best.safetensors", "--json", ok=True)
    metrics = json.loads(evaluated.stdout)
    assert metrics["mse"] == 0.0 and metrics["split"] == "train" and metrics["samples"] == 3

    plotted = zoo_cli("plot", "grid")
    if HAS_MATPLOTLIB:
        assert plotted.returncode == 0 and (run / "curves.png").exists()
    else:  # without matplotlib the run still works; plotting says what to install
        assert plotted.returncode == 2 and "matplotlib" in plotted.stderr
        assert "Traceback" not in plotted.stderr


def test_affine_grid_search_draws_the_loss_surface(zoo_cli, tmp_path):
    trained = zoo_cli("train", "tabular.affine", "--recipe", "grid", "--out", "surface", ok=True)
    assert "best w=2.0  b=1.0  MSE=0" in trained.stdout
    assert (tmp_path / "surface" / "surface.png").exists() == HAS_MATPLOTLIB
    assert len((tmp_path / "surface" / "grid.csv").read_text().splitlines()) == 1 + 41 * 41
    predicted = predictions(zoo_cli("predict", "surface/best.safetensors", "4.0", "--json"))
    assert predicted[0]["output"] == 9.0


def test_logistic_default_recipe_is_at_least_as_sure_as_the_notes(zoo_cli):
    zoo_cli("train", "tabular.logistic", "--out", "logit", "--quiet", ok=True)
    four, one = predictions(zoo_cli("predict", "logit/best.safetensors", "4.0", "1.0", "--json"))
    assert four["probability"] >= 0.88 and four["label"] == 1  # the notes reach about 0.88
    assert four["display"] == "(probability of label 1; predicted label 1)"
    assert one["probability"] < 0.5 and one["label"] == 0


def test_diabetes_on_a_csv_with_header_semicolons_gzip_and_standardization(zoo_cli, tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(60, 8, generator=g) * 4 + 10  # far from zero mean: standardization matters
    y = (x[:, 2] > 12).int()
    header = ";".join([f"f{i}" for i in range(8)] + ["outcome"])
    body = "".join(";".join(f"{v:.3f}" for v in r) + f";{t}\n" for r, t in zip(x.tolist(), y.tolist()))
    (tmp_path / "d.csv.gz").write_bytes(gzip.compress((header + "\n" + body).encode()))
    zoo_cli(
        "train", "tabular.diabetes", "--data", "d.csv.gz", "--standardize", "--epochs", "3",
        "--out", "dia", "--quiet", ok=True,
    )  # fmt: skip
    checkpoint = tmp_path / "dia" / "last.safetensors"

    # In its run folder, the checkpoint's data file comes from the run's own config.json...
    evaluated = json.loads(zoo_cli("eval", str(checkpoint), "--json", ok=True).stdout)
    assert evaluated["split"] == "val" and evaluated["samples"] == 12
    # ...alone, it names its data file only by name and hash: eval is told where it is.
    alone = tmp_path / "alone.safetensors"
    alone.write_bytes(checkpoint.read_bytes())
    unnamed = zoo_cli("eval", str(alone), "--json")
    assert unnamed.returncode == 2 and "d.csv.gz" in unnamed.stderr and "--data" in unnamed.stderr
    given = json.loads(zoo_cli("eval", str(alone), "--data", "d.csv.gz", "--json", ok=True).stdout)
    # the given file is evaluated whole: every row of it, under its own name
    rows = len(gzip.decompress((tmp_path / "d.csv.gz").read_bytes()).decode().splitlines()) - 1
    assert given["split"] == "given" and given["data"] == "d.csv.gz" and given["samples"] == rows == 60

    # eval's accuracy is the share of held-out rows whose predicted label (zoo predict) is right
    everything = tmp_path / "all.csv"
    everything.write_text(header.replace(";", ",") + "\n" + body.replace(";", ","))
    labelled = predictions(zoo_cli("predict", str(checkpoint), "--csv", str(everything), "--json"))
    assert len(labelled) == 60
    meta = zoo.load(str(checkpoint)).metadata
    fraction = meta["data_meta"]["split"]["val_fraction"]
    _, held_out = split_indices(y.float(), fraction, int(meta["seed"]), stratify=True)
    assert len(held_out) == 12
    right = sum(labelled[i]["label"] == int(y[i]) for i in held_out.tolist())
    assert evaluated["accuracy"] == right / 12, (evaluated, right)

    # --csv rows may carry the label column (dropped) and use another delimiter than the training file
    new_rows = body.replace(";", ",").splitlines()[:4]
    (tmp_path / "new.csv").write_text("\n".join([header.replace(";", ","), *new_rows]) + "\n")
    one = ",".join(f"{v:.3f}" for v in x[0].tolist())
    results = predictions(zoo_cli("predict", str(checkpoint), one, "--csv", "new.csv", "--json"))
    assert [r["input"] for r in results] == [one, "new.csv:2", "new.csv:3", "new.csv:4", "new.csv:5"]

    # the README's example row, which starts with a minus sign
    readme_row = "-0.29,0.49,0.18,-0.29,0,0,-0.53,-0.03"
    (row,) = predictions(zoo_cli("predict", str(checkpoint), readme_row, "--json"))
    assert row["input"] == readme_row and row["values"] == [float(v) for v in readme_row.split(",")]
    assert 0.0 <= row["probability"] <= 1.0 and row["label"] == int(row["probability"] >= 0.5)

    # the CLI's numbers are the model's output on inputs standardized with the training statistics
    loaded = zoo.load(str(checkpoint))
    stats = loaded.metadata["data_meta"]["standardize"]
    inputs = torch.tensor([r["values"][:8] for r in results])
    with torch.no_grad():
        expected = loaded.model((inputs - torch.tensor(stats["mean"])) / torch.tensor(stats["std"]))
    assert torch.allclose(torch.tensor([r["probability"] for r in results]), expected.flatten(), atol=1e-5)


def test_diabetes_without_data_uses_the_bundled_file(zoo_cli):
    result = zoo_cli("train", "tabular.diabetes", "--epochs", "1", "--out", "run", ok=True)
    assert "bundled diabetes.csv.gz: 759 rows" in result.stdout


def test_bad_csv_is_one_clear_error(zoo_cli, tmp_path: Path):
    (tmp_path / "bad.csv").write_text("x,y\n1,0\n2,abc\n")
    result = zoo_cli("train", "tabular.logistic", "--data", "bad.csv")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "bad.csv, line 3, column 2: 'abc' is not a number" in result.stderr
