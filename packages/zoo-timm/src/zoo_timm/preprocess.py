"""The one preprocessing of a timm model: the weights' resize, crop and normalization.

Built from timm's own evaluation transform (``timm.data.create_transform``), so a picture
becomes exactly what timm would feed the same weights. Training folders, ``zoo predict``,
``zoo eval``, serve and ``transforms()`` all use a ``Preprocess`` read from the checkpoint's
``data_meta["preprocess"]``: the uint8 ``resize + crop`` step runs once per picture, the
float normalization batch by batch (on the device while training).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from zoo.plugin import UsageError
from zoo_timm.catalogue import picture_words
from zoo_vision.images import MAX_PIXELS, read_image_file
from zoo_vision.pictures import open_picture, unreadable

#: Largest side a picture is resized to (and an export traced with).
MAX_SIDE = 1024
#: Smallest side: below it the backbones' downsampling leaves nothing.
MIN_SIDE = 16
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")


@dataclass(frozen=True)
class Preprocess:
    """RGB pictures -> ``(3, size, size)`` floats normalized with the weights' mean and std."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    crop_mode: str = "center"

    @classmethod
    def from_config(cls, config: dict[str, Any], size: int = 0) -> Preprocess:
        """From a catalogue tag's config; ``size`` (non-zero) replaces the weights' input size."""
        side = size or int(config["input_size"][-1])
        return cls.from_meta(
            {
                "size": side,
                "mean": list(config["mean"]),
                "std": list(config["std"]),
                "interpolation": config["interpolation"],
                "crop_pct": config["crop_pct"],
                "crop_mode": config["crop_mode"],
            }
        )

    @classmethod
    def from_meta(cls, value: Any) -> Preprocess:
        """From ``data_meta["preprocess"]``; a ValueError naming the field that is damaged."""
        if not isinstance(value, dict):
            raise ValueError("data_meta.preprocess must be an object")
        size = value.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or not MIN_SIDE <= size <= MAX_SIDE:
            raise ValueError(
                f"data_meta.preprocess.size must be a whole number {MIN_SIDE}..{MAX_SIDE}, got {size!r}"
            )
        mean, std = _three(value, "mean", False), _three(value, "std", True)
        interpolation = value.get("interpolation")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"data_meta.preprocess.interpolation must be one of {', '.join(INTERPOLATIONS)}")
        crop = value.get("crop_pct")
        if not isinstance(crop, (int, float)) or isinstance(crop, bool) or not 0.1 <= crop <= 1.0:
            raise ValueError(f"data_meta.preprocess.crop_pct must be a number from 0.1 to 1, got {crop!r}")
        mode = value.get("crop_mode")
        if mode not in ("center", "squash", "border"):
            raise ValueError("data_meta.preprocess.crop_mode must be center, squash or border")
        return cls(size, mean, std, str(interpolation), float(crop), str(mode))

    def to_meta(self) -> dict[str, Any]:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    def words(self) -> str:
        """What a picture becomes, in words, for the training header and ``preprocessing``."""
        config = {**self.to_meta(), "input_size": [3, self.size, self.size]}
        return picture_words(config)

    def timm_transform(self) -> Any:
        """timm's own evaluation transform for these settings (PIL in, normalized tensor out)."""
        from timm.data import create_transform

        return create_transform(
            input_size=(3, self.size, self.size),
            interpolation=self.interpolation,
            mean=self.mean,
            std=self.std,
            crop_pct=self.crop_pct,
            crop_mode=self.crop_mode,
            is_training=False,
        )

    def pixels(self, image: Image.Image) -> torch.Tensor:
        """An RGB picture resized and cropped as timm does: uint8 ``(3, size, size)``."""
        steps = self.timm_transform().transforms[:-2]  # all but ToTensor and Normalize
        for step in steps:
            image = step(image)
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``(..., 3, H, W)`` -> floats, as timm's ToTensor + Normalize compute them; floats pass."""
        if x.dtype != torch.uint8:
            return x
        out = x.to(torch.float32).div(255)
        shape = (3, 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=out.device).view(shape)
        std = torch.tensor(self.std, dtype=torch.float32, device=out.device).view(shape)
        return out.sub_(mean).div_(std)

    def __call__(self, item: Any, name: str = "the input") -> torch.Tensor:
        """One picture (path, bytes, PIL image, or uint8/float tensor) -> the model's input."""
        if isinstance(item, torch.Tensor):
            if item.dim() != 3 or item.shape[0] != 3:
                raise UsageError(f"{name}: a picture tensor must be (3, H, W), got {tuple(item.shape)}")
            if item.dtype == torch.uint8 and tuple(item.shape[1:]) != (self.size, self.size):
                item = Image.fromarray(item.permute(1, 2, 0).numpy())
            else:
                return self.normalize(item)
        if not isinstance(item, Image.Image):
            item = decode_rgb(item, name)
        return self.normalize(self.pixels(item))


def _three(value: dict[str, Any], key: str, positive: bool) -> tuple[float, float, float]:
    numbers = value.get(key)
    if not (isinstance(numbers, list) and len(numbers) == 3) or not all(
        isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n) for n in numbers
    ):
        raise ValueError(f"data_meta.preprocess.{key} must be three numbers, got {str(numbers)[:60]}")
    if positive and min(numbers) <= 0:
        raise ValueError(f"data_meta.preprocess.{key} must be three positive numbers, got {numbers}")
    return (float(numbers[0]), float(numbers[1]), float(numbers[2]))


def decode_rgb(
    item: Any, name: str | Path, max_pixels: int = MAX_PIXELS, raise_with: str = ""
) -> Image.Image:
    """A picture file or its bytes decoded by zoo-vision's bounded decoder, as 8-bit RGB."""
    if isinstance(item, (str, Path)):
        name = str(item)
        item = read_image_file(item)
    if not isinstance(item, (bytes, bytearray)):
        raise UsageError(f"{name}: give a picture file, its bytes, a PIL image or a (3, H, W) tensor")
    image = open_picture(bytes(item), name, max_pixels, raise_with)
    try:
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert(
                "RGB"
            )
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            from zoo_vision.images import _eight_bit

            image = _eight_bit(image)
        return image.convert("RGB")
    except Exception as exc:  # an odd mode the decoder accepted: still the file's fault
        raise unreadable(name, f"{type(exc).__name__} while converting it to RGB") from None
