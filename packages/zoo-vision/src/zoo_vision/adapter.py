"""What the MNIST models do differently from zoo's multiclass defaults: they predict from pictures.

Every field of the checkpoint's ``data_meta`` is read through ``_classes``, ``_stats``
and ``_image_size``, which refuse damaged values with a ValueError naming the field
(zoo turns it into an error naming the file): no empty or short label list, no
non-numeric or zero statistics, no image size that would size a huge allocation.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from zoo.plugin import ModelAdapter, PredictInput, UsageError, check_range
from zoo_vision.facts import MEAN, SIDE, STD, digit_names
from zoo_vision.folder import IGNORED, PICTURE_SUFFIXES
from zoo_vision.images import Digit, decode_gray, digit_from
from zoo_vision.mnist import normalize

#: Real MNIST test digits shipped with the package, one per class.
EXAMPLES = Path(__file__).parent / "examples"
#: Largest ``data_meta.image_size`` (pixels per side) an export traces with or a form offers.
MAX_IMAGE_SIZE = 1024
#: Most pictures one ``zoo predict`` takes from folders: 10,000 framed pictures are about 31 MB of input.
MAX_FOLDER_PICTURES = 10_000


def _classes(meta: dict[str, Any], model: nn.Module | None = None) -> list[str]:
    """The class names; with the model, also checked to name each of its outputs."""
    value = meta.get("classes", digit_names())
    if not isinstance(value, list) or not value or not all(isinstance(c, (str, int)) for c in value):
        raise ValueError(f"data_meta.classes must be a non-empty list of names, got {str(value)[:60]}")
    classes = [str(c) for c in value]
    outputs = _outputs(model)
    if outputs is not None and outputs != len(classes):
        raise ValueError(
            f"data_meta.classes names {len(classes)} classes but the model has {outputs} outputs"
        )
    return classes


def _outputs(model: nn.Module | None) -> int | None:
    """How many scores the model returns: the last Linear layer's width."""
    last = None
    for layer in model.modules() if model is not None else ():
        if isinstance(layer, nn.Linear):
            last = layer
    return int(last.out_features) if last is not None else None


def _number(meta: dict[str, Any], key: str, default: float, positive: bool) -> float:
    value = meta.get(key, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        want = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"data_meta.{key} must be {want}, got {str(value)[:40]}")
    return float(value)


def _stats(meta: dict[str, Any]) -> tuple[float, float]:
    """The normalization mean and standard deviation (> 0: it divides)."""
    return _number(meta, "mean", MEAN, positive=False), _number(meta, "std", STD, positive=True)


def _image_size(meta: dict[str, Any]) -> int:
    value = meta.get("image_size", SIDE)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_IMAGE_SIZE:
        raise ValueError(
            f"data_meta.image_size must be a whole number from 1 to {MAX_IMAGE_SIZE}, got {str(value)[:40]}"
        )
    return value


@dataclass(frozen=True)
class DigitTransform:
    """The weights' own preprocessing: one picture in any form -> the ``(1, 28, 28)`` float input.

    Takes what ``images.digit_from`` takes (a path, bytes, a PIL image, a tensor or array of
    pixels) and frames it as training did, then normalizes with the checkpoint's statistics.
    A ``Digit`` already framed (as ``expand`` reads pictures) is only normalized.
    """

    mean: float = MEAN
    std: float = STD

    def __call__(self, item: Any) -> torch.Tensor:
        return self.normalize(item if isinstance(item, Digit) else self.digit(item))

    def digit(self, item: Any, name: str = "the input") -> Digit:
        """The framed uint8 picture, with whether it had to be inverted."""
        return digit_from(item, name)

    def normalize(self, digit: Digit) -> torch.Tensor:
        return normalize(digit.pixels, self.mean, self.std)


def _name(item: Any, position: int) -> str:
    """What a result calls its input: the path as given, else its position."""
    return str(item) if isinstance(item, (str, Path)) else f"input {position}"


def pictures_of(inputs: list[Any]) -> list[Any]:
    """The inputs with each folder replaced by the pictures under it (by name ending, in path order).

    At most ``MAX_FOLDER_PICTURES`` in all, so a folder given by mistake (a home folder) is
    refused by its count before any picture is decoded.
    """
    found: list[Any] = []
    for item in inputs:
        if not (isinstance(item, (str, Path)) and Path(item).is_dir()):
            found.append(item)
            continue
        pictures = []
        for top, dirs, files in os.walk(item):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in IGNORED)
            pictures += [
                os.path.join(top, f)
                for f in sorted(files)
                if not f.startswith(".") and Path(f).suffix.lower() in PICTURE_SUFFIXES
            ]
            if len(found) + len(pictures) > MAX_FOLDER_PICTURES:
                raise UsageError(
                    f"{item}: more than {MAX_FOLDER_PICTURES:,} pictures to predict in one call",
                    hint="predict a smaller folder, or its subfolders one at a time",
                )
        if not pictures:
            suffixes = ", ".join(sorted(PICTURE_SUFFIXES))
            raise UsageError(
                f"{item}: a folder without pictures ({suffixes})", hint="give image files or a folder of them"
            )
        found += pictures
    return found


class VisionAdapter(ModelAdapter):
    """Training, loss and metrics are the multiclass defaults; inputs are pictures, framed like MNIST."""

    def example_inputs(self) -> list[str]:
        """The shipped example digits (``digit-<label>.png``)."""
        return [str(p) for p in sorted(EXAMPLES.glob("digit-*.png"))]

    def transforms(self, meta: dict[str, Any]) -> DigitTransform:
        """The one preprocessing, with this checkpoint's normalization."""
        mean, std = _stats(meta)
        return DigitTransform(mean, std)

    def read_upload(self, data: bytes, name: str) -> Image.Image:
        """An uploaded picture decoded by the one bounded decoder, as ``predict`` takes it (grayscale)."""
        return decode_gray(data, name)

    def decode(
        self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Scores ``(N, classes)`` -> per row the class, its probability and, with ``top`` K, the K best."""
        classes = _classes(meta)
        if outputs.dim() != 2 or outputs.shape[-1] != len(classes):
            raise ValueError(
                f"data_meta.classes names {len(classes)} classes but the model gives scores of shape "
                f"{tuple(outputs.shape)}"
            )
        top = 1 if options.get("top") is None else options["top"]
        if isinstance(top, bool) or not isinstance(top, int):
            raise UsageError(f"--top must be a whole number, got {top!r}")
        check_range("--top", top, 1, len(classes))  # this model's classes: more cannot be shown
        probs = torch.softmax(outputs.detach().float(), dim=-1).cpu()
        best_p, best_i = probs.topk(top, dim=-1)
        results = []
        for ps, idx in zip(best_p.tolist(), best_i.tolist(), strict=True):
            ranked = [
                {"class": classes[i], "index": i, "probability": p} for i, p in zip(idx, ps, strict=True)
            ]
            label = ranked[0]["class"]
            display = f"p={ps[0]:.4f}"
            if top > 1:
                display += "  top: " + ", ".join(f"{r['class']} {r['probability']:.4f}" for r in ranked)
            output = int(label) if label.isdigit() else label
            results.append({"output": output, "probability": ps[0], "top": ranked, "display": display})
        return results

    def expand(self, inputs: list[Any], meta: dict[str, Any], options: dict[str, Any]) -> list[PredictInput]:
        """Folders become their pictures; each picture is read and framed once, named by its path.

        Its result says whether it was ``inverted`` (a dark digit on light paper).
        """
        if not inputs:
            raise UsageError(
                "give at least one image file", hint="zoo predict CKPT digit.png [more.png ...] or a folder"
            )
        transform = self.transforms(meta)
        found = []
        for i, item in enumerate(pictures_of(inputs)):
            name = _name(item, i + 1)
            digit = transform.digit(item, name)
            found.append(PredictInput(name, digit, {"inverted": digit.inverted}))
        return found

    # -- export and serving -----------------------------------------------------
    def example_batch(
        self, meta: dict[str, Any], batch: int = 2, model: nn.Module | None = None
    ) -> torch.Tensor:
        """Normalized ``(batch, 1, 28, 28)`` images: what the model sees after ``normalize``."""
        side = _image_size(meta)
        _classes(meta, model)
        return torch.randn(batch, 1, side, side, generator=torch.Generator().manual_seed(0))

    def input_form(self, meta: dict[str, Any]) -> dict[str, Any]:
        """A picture of one digit: the page offers a drawing canvas and a file upload."""
        return {"kind": "image", "size": _image_size(meta), "classes": _classes(meta)}

    def preprocessing(self, meta: dict[str, Any]) -> dict[str, Any]:
        """MNIST framing, then ``(pixels / 255 - mean) / std``."""
        mean, std = _stats(meta)
        return {
            "image": "8-bit grayscale, light digit on black, in a 20x20 box centred by mass in 28x28",
            "scale": 1 / 255,
            "normalize": {"mean": mean, "std": std},
            "classes": _classes(meta),
        }
