"""Models from your own loop and data, in zoo: ``zoo.save``, ``LoadedModel.predict`` on tensors and
images, ``transforms()``, ``zoo.create`` for another class count and ``zoo eval --data``."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from serve_testkit import run_zoo, serving

import zoo
from zoo.contracts.spec import resolve
from zoo.errors import UsageError
from zoo.files.safefile import read_header

LABELS = ["bar", "dash", "ring"]


def draw(kind: str, path: Path | None = None, shift: int = 0, size: int = 60) -> Image.Image:
    """Dark ink on a light RGB page of an odd size, as a photo of a drawing would be."""
    image = Image.new("RGB", (size, size + 7), (250, 248, 240))
    pen = ImageDraw.Draw(image)
    c = size // 2 + shift
    if kind == "bar":
        pen.rectangle((c - 4, 8, c + 4, size - 8), fill=(10, 10, 10))
    elif kind == "dash":
        pen.rectangle((8, c - 4, size - 8, c + 4), fill=(10, 10, 10))
    else:
        pen.ellipse((12 + shift, 12, size - 12 + shift, size - 12), outline=(10, 10, 10), width=6)
    if path is not None:
        image.save(path)
    return image


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A three-class vision.cnn trained in a plain PyTorch loop on zoo's preprocessing, saved by zoo.save."""
    work = tmp_path_factory.mktemp("own")
    prepare = zoo.load("vision.cnn").transforms()  # the published weights' own preprocessing
    images = [(draw(kind, shift=s), i) for i, kind in enumerate(LABELS) for s in (-6, -3, 0, 3, 6)]
    x = torch.stack([prepare(img) for img, _ in images])
    y = torch.tensor([label for _, label in images])
    torch.manual_seed(0)
    model = zoo.create("vision.cnn", num_classes=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    path = zoo.save(model, work / "shapes.safetensors", name="vision.cnn", classes=LABELS)
    draw("ring", work / "ring.png", shift=1)
    return path, work


def test_a_saved_module_is_a_checkpoint_every_command_takes(own: tuple[Path, Path]) -> None:
    path, work = own
    meta = read_header(path)[1]
    assert meta["model"] == "vision.cnn" and json.loads(meta["config"])["num_classes"] == 3
    assert json.loads(meta["data_meta"])["classes"] == LABELS

    shown = run_zoo("predict", str(path), "ring.png", "--top", "2", cwd=work).stdout
    assert shown.startswith("ring.png -> ring") and "top: ring" in shown, shown
    as_json = json.loads(run_zoo("predict", str(path), "ring.png", "--json", cwd=work).stdout)
    assert as_json[0]["output"] == "ring" and as_json[0]["top"][0]["index"] == 2

    exported = run_zoo("export", str(path), "--format", "onnx", "-o", "shapes.onnx", cwd=work).stdout
    assert "wrote shapes.onnx" in exported and "check: max abs diff" in exported

    with serving(path, cwd=work) as base, urllib.request.urlopen(f"{base}/v1/models", timeout=30) as answer:
        models = json.loads(answer.read())
    described = json.dumps(models)
    assert "vision.cnn" in described and "ring" in described


def test_loaded_model_predicts_tensors_arrays_and_images_as_it_predicts_files(own: tuple[Path, Path]) -> None:
    path, work = own
    loaded = zoo.load(path)
    by_file = loaded.predict(str(work / "ring.png"))[0]
    prepare = loaded.transforms()
    x = prepare(work / "ring.png")
    assert tuple(x.shape) == (1, 28, 28)
    by_tensor = loaded.predict(x[None])[0]
    by_image = loaded.predict(Image.open(work / "ring.png"))[0]
    by_array = loaded.predict(x[None].numpy())[0]
    for result in (by_tensor, by_image, by_array):
        assert result["output"] == by_file["output"] == "ring"
        assert result["probability"] == pytest.approx(by_file["probability"], abs=1e-6)
    batch = loaded.predict([draw("bar"), draw("dash"), np.asarray(draw("ring"))], top=3)
    assert [r["output"] for r in batch] == LABELS
    assert all(len(r["top"]) == 3 for r in batch)
    with pytest.raises(UsageError, match="--top must be 1 to 3, got 4"):
        loaded.predict(x[None], top=4)
    with pytest.raises(UsageError, match="unknown option --colour"):
        loaded.predict(x[None], colour=1)


def test_save_refuses_a_module_that_is_not_the_named_model(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"not vision.cnn .*fc.weight is \[5, 320\], the model's is \[10, 320\]"):
        zoo.save(resolve(zoo.get_spec("vision.cnn").builder)(num_classes=5), tmp_path / "a.safetensors", "vision.cnn")
    with pytest.raises(UsageError, match="missing conv1.weight"):
        zoo.save(torch.nn.Linear(2, 3), tmp_path / "b.safetensors", name="vision.cnn")
    with pytest.raises(UsageError, match="no config keyword argument 'width'"):
        zoo.save(zoo.create("vision.cnn"), tmp_path / "c.safetensors", "vision.cnn", config={"width": 3})
    with pytest.raises(UsageError, match="classes repeat 'a'"):
        zoo.save(zoo.create("vision.cnn", num_classes=2), tmp_path / "d.safetensors", "vision.cnn", classes=["a", "a"])
    with pytest.raises(UsageError, match=r"is a \.safetensors file"):
        zoo.save(zoo.create("vision.cnn"), tmp_path / "e.pt", "vision.cnn")
    with pytest.raises(UsageError, match="needs name= .* or builder= .*not neither"):
        zoo.save(torch.nn.Linear(2, 3), tmp_path / "f.safetensors")
    assert not list(tmp_path.iterdir())  # nothing half-written
    made = zoo.save(zoo.create("vision.cnn", num_classes=5), tmp_path / "made.safetensors")  # it knows its config
    assert zoo.load(made).metadata["config"]["num_classes"] == 5


def test_create_from_weights_for_another_class_count(capfd: pytest.CaptureFixture[str]) -> None:
    published = zoo.create("vision.cnn", weights="default")
    five = zoo.create("vision.cnn", weights="default", num_classes=5)
    assert tuple(five.fc.weight.shape) == (5, 320)
    for name in ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"):
        assert torch.equal(five.state_dict()[name], published.state_dict()[name]), name
    assert not torch.equal(five.fc.weight, published.fc.weight[:5])
    note = capfd.readouterr().err
    assert "copied 4 tensors; re-initialised fc.weight [10, 320] -> [5, 320], fc.bias [10] -> [5]" in note
    with pytest.raises(UsageError, match="no config keyword argument"):
        zoo.create("vision.cnn", weights="default", classes=5)


def test_eval_takes_other_data_and_refuses_other_classes(own: tuple[Path, Path]) -> None:
    path, work = own
    folder = work / "held_out"
    for kind in LABELS:
        (folder / kind).mkdir(parents=True)
        for s in (-5, 5):
            draw(kind, folder / kind / f"{s}.png", shift=s)
    metrics = json.loads(run_zoo("eval", str(path), "--data", str(folder), "--json", cwd=work).stdout)
    assert metrics["samples"] >= 1 and 0.0 <= metrics["accuracy"] <= 1.0
    other = work / "other"
    for kind in ("bar", "cross", "ring"):
        (other / kind).mkdir(parents=True)
        for s in (-5, 5):
            draw("bar" if kind == "cross" else kind, other / kind / f"{s}.png", shift=s)
    refused = run_zoo("eval", str(path), "--data", str(other), cwd=work, check=False)
    assert refused.returncode == 2 and "cross unknown to the model" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_train_passes_callbacks_to_the_run(tmp_path: Path) -> None:
    seen: list[int] = []

    class StopAtTwo(zoo.Callback):
        def on_epoch_end(self, end: zoo.training.callbacks.EpochEnd) -> None:
            seen.append(end.epoch)
            if end.epoch == 2:
                end.stop("two epochs are enough")

    run = zoo.train("tabular.logistic", out=tmp_path / "run", epochs=50, quiet=True, callbacks=[StopAtTwo()])
    assert seen == [1, 2] and len(run.history) == 2
    assert run.status == "stopped" and run.stop_reason == "two epochs are enough"
    assert json.loads((tmp_path / "run" / "outcome.json").read_text())["epochs_done"] == 2
