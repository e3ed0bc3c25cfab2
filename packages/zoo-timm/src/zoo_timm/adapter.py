"""What timm models do differently from zoo's multiclass defaults: they predict from colour pictures.

Every path from a picture to the model goes through the checkpoint's ``Preprocess``
(``data_meta["preprocess"]``), the same object training built, so predict, eval, serve,
export metadata and ``transforms()`` see pictures exactly as training did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from zoo.plugin import ModelAdapter, PredictInput, UsageError
from zoo_timm.preprocess import Preprocess, decode_rgb
from zoo_vision.adapter import VisionAdapter, _classes, pictures_of

#: Colour pictures shipped with the package (red, green and blue shapes).
EXAMPLES = Path(__file__).parent / "examples"


def preprocess_of(meta: dict[str, Any]) -> Preprocess:
    """The checkpoint's preprocessing; a ValueError naming the damaged field (zoo names the file)."""
    return Preprocess.from_meta(meta.get("preprocess"))


class TimmAdapter(VisionAdapter):
    """Multiclass training and decoding (zoo-vision's ``decode``, ``--top``); RGB pictures in."""

    def check(self, hparams: dict[str, Any], config: dict[str, Any]) -> None:
        if config.get("in_chans", 3) != 3:
            raise UsageError(
                f"--in-chans {config.get('in_chans')!r}: timm models in zoo read pictures as RGB "
                "(3 channels)",
                hint="leave --in-chans out; grayscale pictures are read as RGB",
            )

    def example_inputs(self) -> list[str]:
        return [str(p) for p in sorted(EXAMPLES.glob("*.png"))]

    def transforms(self, meta: dict[str, Any]) -> Preprocess:  # type: ignore[override]
        """The one preprocessing, as training stored it."""
        return preprocess_of(meta)

    def read_upload(self, data: bytes, name: str) -> Image.Image:
        """An uploaded picture decoded by the bounded decoder, in RGB."""
        return decode_rgb(data, name)

    def expand(self, inputs: list[Any], meta: dict[str, Any], options: dict[str, Any]) -> list[PredictInput]:
        """Folders become their pictures, each named by its path (or its position)."""
        if not inputs:
            raise UsageError(
                "give at least one picture", hint="zoo predict CKPT picture.jpg [more ...] or a folder"
            )
        return ModelAdapter.expand(self, pictures_of(inputs), meta, options)  # named as core names them

    def example_batch(
        self, meta: dict[str, Any], batch: int = 2, model: nn.Module | None = None
    ) -> torch.Tensor:
        """Normalized ``(batch, 3, S, S)`` pictures at the checkpoint's input size."""
        side = preprocess_of(meta).size
        _classes(meta, model)
        return torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(0))

    def input_form(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "image", "size": preprocess_of(meta).size, "classes": _classes(meta), "colour": True}

    def preprocessing(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The weights' resize, crop and normalization, in words and numbers."""
        pre = preprocess_of(meta)
        return {"image": pre.words(), **pre.to_meta(), "scale": 1 / 255, "classes": _classes(meta)}
