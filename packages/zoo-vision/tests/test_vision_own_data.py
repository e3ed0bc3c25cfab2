"""Your own pictures through the ``zoo`` command and the library: train, predict, eval, transforms().

Class names come from the folder names and travel in the checkpoint; every input form
(a file of any format, a PIL image, a tensor) goes through the one preprocessing, so
``zoo predict``, ``LoadedModel.predict(path)`` and a batch made with ``transforms()``
answer the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageOps

import zoo
from vision_testkit import Cli, make_folder, snapshot
from zoo_vision.adapter import EXAMPLES

CLASSES = ["bar", "cross", "dash", "ring"]


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory, cli: Cli) -> tuple[Path, Path]:
    """vision.cnn trained through the CLI on a folder of four drawn classes: (run folder, data folder)."""
    work = tmp_path_factory.mktemp("own")
    data = make_folder(work / "shapes" / "train", per_class=16, names=tuple(CLASSES))
    make_folder(work / "shapes" / "val", per_class=4, names=tuple(CLASSES))
    before = snapshot(work / "shapes")
    args = "train vision.cnn --data shapes --epochs 12 --batch-size 16 --optimizer adam --lr 0.01"
    cli(*args.split(), "--device", "cpu", "--quiet", "--out", "run", cwd=work, data_dir=work / "zoo-data")
    assert snapshot(work / "shapes") == before
    assert not (work / "zoo-data").exists()  # MNIST was never looked for, nothing was made for it
    return work / "run", data.parent


def test_the_folder_sizes_the_head_and_names_the_classes(
    folder_run: tuple[Path, Path], vision_only: None
) -> None:
    run, _ = folder_run
    loaded = zoo.load(str(run / "best.safetensors"))
    assert loaded.model.fc.weight.shape == (4, 320)
    assert loaded.metadata["config"]["num_classes"] == 4
    assert loaded.metadata["data_meta"]["classes"] == CLASSES
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(r["val_accuracy"] for r in rows) >= 0.75


def test_predict_prints_the_folder_names(folder_run: tuple[Path, Path], cli: Cli, tmp_path: Path) -> None:
    run, data = folder_run
    picture = sorted((data / "val" / "ring").iterdir())[0]
    proc = cli("predict", str(run / "best.safetensors"), str(picture), "--top", "2", "--json", cwd=tmp_path)
    [result] = json.loads(proc.stdout)
    assert result["output"] in CLASSES and [r["class"] for r in result["top"]][0] == result["output"]
    assert result["top"][0]["index"] == CLASSES.index(result["output"])
    proc = cli(
        "predict", str(run / "best.safetensors"), str(picture), "--top", "5", cwd=tmp_path, check=False
    )
    assert proc.returncode == 2 and "--top" in proc.stderr and "Traceback" not in proc.stderr


def test_eval_reads_another_folder(folder_run: tuple[Path, Path], cli: Cli, tmp_path: Path) -> None:
    run, data = folder_run
    proc = cli(
        "eval", str(run / "best.safetensors"), "--data", str(data), "--json", "--device", "cpu", cwd=tmp_path
    )
    result = json.loads(proc.stdout)
    pictures = [f for f in data.rglob("*") if f.is_file()]
    # all of the given folder (train/ and val/), never a share carved out of it
    assert result["samples"] == len(pictures) == 80
    assert result["split"] == "given" and result["data"] == data.name
    flat = data / "val"  # class folders only: nothing is held out of it either
    proc = cli(
        "eval", str(run / "best.safetensors"), "--data", str(flat), "--json", "--device", "cpu", cwd=tmp_path
    )
    result = json.loads(proc.stdout)
    assert result["samples"] == len([f for f in flat.rglob("*") if f.is_file()]) == 16
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert abs(result["accuracy"] - max(r["val_accuracy"] for r in rows)) < 1e-9


def test_eval_of_the_run_reads_its_own_folder_and_a_lone_checkpoint_asks_for_it(
    folder_run: tuple[Path, Path], cli: Cli, tmp_path: Path
) -> None:
    run, _ = folder_run
    proc = cli("eval", str(run), "--json", "--device", "cpu", cwd=tmp_path, data_dir=tmp_path / "zoo-data")
    assert json.loads(proc.stdout)["samples"] == 16  # the run's own val/ folder, not MNIST
    alone = tmp_path / "alone" / "best.safetensors"
    alone.parent.mkdir()
    alone.write_bytes((run / "best.safetensors").read_bytes())
    proc = cli(
        "eval", str(alone), "--device", "cpu", cwd=tmp_path, data_dir=tmp_path / "zoo-data", check=False
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "was trained on --data 'shapes', which is not shipped with it" in proc.stderr
    assert f"zoo eval {alone} --data DIR" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "zoo-data").exists()  # MNIST was never looked for


def test_data_dir_holding_pictures_says_use_data(cli: Cli, tmp_path: Path) -> None:
    pictures = make_folder(tmp_path / "my_pngs", per_class=2, names=("bar", "ring"))
    before = snapshot(pictures)
    proc = cli(
        "train",
        "vision.cnn",
        "--epochs",
        "1",
        "--device",
        "cpu",
        cwd=tmp_path,
        data_dir=pictures,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "use --data DIR for your own images" in proc.stderr
    assert snapshot(pictures) == before and not (pictures / "MNIST").exists()


def forms(digit: Path, out: Path) -> list[Path]:
    """The shipped MNIST test digit saved as a user would have it: inverted, RGBA, JPEG, large, 16-bit."""
    img = Image.open(digit).convert("L")
    big = img.resize((336, 336), Image.Resampling.BICUBIC)
    made = {
        "plain.png": img,
        "inverted.png": ImageOps.invert(img),
        "rgba.png": Image.merge("RGBA", (img, img, img, Image.new("L", img.size, 255))),
        "photo.jpg": ImageOps.invert(big).convert("RGB"),
        "large.png": big,
    }
    paths = []
    for name, picture in made.items():
        path = out / f"{digit.stem}-{name}"
        picture.save(path, quality=92) if name.endswith(".jpg") else picture.save(path)
        paths.append(path)
    return paths


def test_published_weights_answer_alike_for_every_form_and_path(
    cli: Cli, tmp_path: Path, vision_only: None
) -> None:
    files = [p for digit in sorted(EXAMPLES.glob("digit-*.png")) for p in forms(digit, tmp_path)]
    proc = cli("predict", "vision.cnn", *map(str, files), "--json", cwd=tmp_path)
    by_cli = [r["output"] for r in json.loads(proc.stdout)]
    loaded = zoo.load("vision.cnn")
    by_path = [r["output"] for r in loaded.predict([str(f) for f in files])]
    prepare = loaded.transforms()
    batch = torch.stack([prepare(Image.open(f)) for f in files])
    assert batch.shape == (len(files), 1, 28, 28) and batch.dtype == torch.float32
    by_tensor = [r["output"] for r in loaded.predict(batch)]
    assert by_cli == by_path == by_tensor
    truth = [int(f.name.split("-")[1]) for f in files]
    assert sum(a == b for a, b in zip(by_cli, truth, strict=True)) >= len(files) - 2
