"""Preparing users' pictures: polarity, colour, transparency, size and framing like MNIST."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from vision_testkit import draw_shape
from zoo.plugin import DataError
from zoo_vision.images import load_digit


def save(img: Image.Image, path: Path) -> Path:
    img.save(path)
    return path


def test_both_polarities_and_colour_give_the_same_digit(tmp_path: Path) -> None:
    light = load_digit(save(draw_shape(0, size=280, stroke=3, ink=255, paper=0), tmp_path / "light.png"))
    dark = load_digit(save(draw_shape(0, size=280, stroke=3, ink=0, paper=255), tmp_path / "dark.png"))
    coloured = draw_shape(0, size=280, stroke=3, ink=20, paper=235, mode="RGB")
    rgb = load_digit(save(coloured, tmp_path / "rgb.png"))
    assert not light.inverted and dark.inverted and rgb.inverted
    for digit in (light, dark, rgb):
        assert digit.pixels.shape == (1, 28, 28) and digit.pixels.dtype == torch.uint8
        # light on dark, like MNIST: dark border, bright strokes
        assert int(digit.pixels.max()) == 255
        assert digit.pixels[0, 0].max() == 0 and digit.pixels[0, :, 0].max() == 0
    diff = (light.pixels.float() - dark.pixels.float()).abs().mean()
    assert diff < 3, diff
    assert (light.pixels.float() - rgb.pixels.float()).abs().mean() < 12


def test_the_digit_is_framed_like_mnist(tmp_path: Path) -> None:
    # a small bar in a corner of a wide grey picture
    img = Image.new("L", (400, 120), 200)
    img.paste(40, (20, 10, 32, 90))
    digit = load_digit(save(img, tmp_path / "corner.png"))
    assert digit.inverted
    rows = digit.pixels[0].float().sum(1).nonzero().flatten()
    cols = digit.pixels[0].float().sum(0).nonzero().flatten()
    assert int(rows.max() - rows.min()) + 1 == 20  # scaled to 20 pixels on its longer side
    centre_row = float(rows.float().mean())
    centre_col = float(cols.float().mean())
    assert abs(centre_row - 13.5) <= 1 and abs(centre_col - 13.5) <= 1  # centred


def test_transparent_background(tmp_path: Path) -> None:
    img = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    img.paste((10, 10, 10, 255), (45, 10, 55, 90))  # a black bar on nothing
    digit = load_digit(save(img, tmp_path / "alpha.png"))
    assert digit.pixels[0, 14].max() == 255 and digit.pixels[0, 0].max() == 0


def test_blank_picture_is_all_background(tmp_path: Path) -> None:
    digit = load_digit(save(Image.new("L", (50, 50), 255), tmp_path / "blank.png"))
    assert digit.inverted and int(digit.pixels.max()) == 0


def test_jpeg_and_odd_sizes(tmp_path: Path) -> None:
    img = draw_shape(1, size=57, stroke=3, ink=30, paper=220, mode="RGB").resize((57, 91))
    digit = load_digit(save(img, tmp_path / "one.jpg"))
    assert digit.inverted and digit.pixels.shape == (1, 28, 28)


def test_missing_and_non_image_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file") as info:
        load_digit(tmp_path / "nope.png")
    assert "nope.png" in str(info.value)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(DataError, match="is not an image") as info:
        load_digit(text)
    assert str(text) in str(info.value)
    cut = tmp_path / "cut.png"
    whole = save(draw_shape(2, size=200), tmp_path / "full.png").read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="is not an image"):
        load_digit(cut)
    with pytest.raises(DataError, match="is a folder"):
        load_digit(tmp_path)
