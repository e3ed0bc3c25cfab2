"""Training a timm model on drawn colour pictures, then predict and eval on the run; the one preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import Cli, draw_folder
from zoo_timm.catalogue import tag_config
from zoo_timm.data import colour_picture
from zoo_timm.preprocess import Preprocess


def test_train_predict_eval_on_colour_pictures(cli: Cli, trained: Path, shapes: Path, tmp_path: Path) -> None:
    config = json.loads((trained / "config.json").read_text())
    assert config["model"] == "timm.test_resnet"
    picks = [shapes / "red" / "red-3.jpg", shapes / "green" / "green-0.png", shapes / "blue" / "blue-7.jpg"]
    done = cli("predict", str(trained), *map(str, picks), "--json", cwd=tmp_path)
    answers = [row["output"] for row in json.loads(done.stdout)]
    assert answers == ["red", "green", "blue"]
    held_out = json.loads(cli("eval", str(trained), "--json", cwd=tmp_path).stdout)
    assert held_out["split"] == "val" and held_out["samples"] == 12 and held_out["accuracy"] >= 0.9
    given = json.loads(cli("eval", str(trained), "--data", str(shapes), "--json", cwd=tmp_path).stdout)
    assert given["samples"] == 60 and given["accuracy"] >= 0.9


def test_the_checkpoint_carries_the_preprocessing_predict_uses(trained: Path) -> None:
    import zoo

    loaded = zoo.load(trained)
    pre = loaded.transforms()
    assert isinstance(pre, Preprocess)
    assert pre.to_meta() == {
        "size": 64,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "interpolation": "bilinear",
        "crop_pct": 0.95,
        "crop_mode": "center",
    }
    picture = colour_picture("blue", 5, (120, 90))
    assert torch.equal(pre(picture), pre.timm_transform()(picture))
    assert loaded.predict([picture])[0]["output"] == "blue"


@pytest.mark.parametrize(
    "tag", [("resnet18", "a1_in1k"), ("vit_tiny_patch16_224", "augreg_in21k"), ("test_vit", "r160_in1k")]
)
def test_transforms_equal_timms_own_for_the_same_weights(tag: tuple[str, str]) -> None:
    from timm.data import create_transform, resolve_data_config
    from timm.models import get_pretrained_cfg

    arch, name = tag
    ours = Preprocess.from_config(tag_config(arch, name))
    cfg = get_pretrained_cfg(f"{arch}.{name}")
    assert cfg is not None
    theirs = create_transform(**resolve_data_config({}, pretrained_cfg=cfg.to_dict()))
    for picture in (colour_picture("red", 2, (300, 200)), Image.new("L", (50, 80), 90).convert("RGB")):
        assert torch.equal(ours(picture), theirs(picture))


def test_odd_modes_and_sizes_read_as_rgb(tmp_path: Path) -> None:
    pre = Preprocess.from_config(tag_config("test_resnet", "r160_in1k"))
    for mode, size in (("L", (33, 201)), ("RGBA", (640, 7)), ("P", (17, 17)), ("I;16", (40, 30))):
        path = tmp_path / f"odd-{mode.replace(';', '')}.png"
        Image.new(mode, size).save(path)
        assert pre(path).shape == (3, 160, 160), mode


def test_bad_input_is_one_clear_error(cli: Cli, shapes: Path, tmp_path: Path) -> None:
    cases = {
        ("train", "timm.test_resnet"): "give --data DIR",
        ("train", "timm.test_resnet", "--data", str(shapes), "--tag", "r16_in1k"): "did you mean 'r160_in1k'",
        ("train", "timm.test_resnet", "--data", str(shapes), "--image-size", "8"): "--image-size must be",
        ("train", "timm.test_vit", "--data", str(shapes), "--image-size", "64"): "takes only 160x160",
        (
            "train",
            "timm.test_resnet",
            "--data",
            str(shapes),
            "--memory-mb",
            "1",
        ): "over the memory budget of 1 MB",
        ("train", "timm.test_resnet", "--data", str(shapes), "--in-chans", "1"): "read pictures as RGB",
    }
    for args, words in cases.items():
        done = cli(*args, cwd=tmp_path, check=False)
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_a_damaged_picture_names_its_file(cli: Cli, tmp_path: Path) -> None:
    folder = draw_folder(tmp_path / "pictures", per_class=3)
    (folder / "red" / "broken.jpg").write_bytes(b"not a picture at all")
    done = cli("train", "timm.test_resnet", "--data", str(folder), "--epochs", "1", cwd=tmp_path, check=False)
    assert done.returncode == 2 and "broken.jpg" in done.stderr and "--skip-bad-images" in done.stderr
