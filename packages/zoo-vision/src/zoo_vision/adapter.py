"""What the MNIST models do differently from zoo's multiclass defaults: they predict from pictures.

Every field of the checkpoint's ``data_meta`` is read through ``_classes``, ``_stats``
and ``_image_size``, which refuse damaged values with a ValueError naming the field
(zoo turns it into an error naming the file): no empty or short label list, no
non-numeric or zero statistics, no image size that would size a huge allocation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.adapter import ModelAdapter
from zoo.errors import UsageError
from zoo.predict import check_range
from zoo_vision.images import load_digit
from zoo_vision.mnist import MEAN, STD, normalize

#: Real MNIST test digits shipped with the package, one per class.
EXAMPLES = Path(__file__).parent / "examples"
#: Largest ``data_meta.image_size`` (pixels per side) an export traces with or a form offers.
MAX_IMAGE_SIZE = 1024


def _classes(meta: dict[str, Any], model: nn.Module | None = None) -> list[str]:
    """The class names; with the model, also checked to name each of its outputs."""
    value = meta.get("classes", [str(d) for d in range(10)])
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
    value = meta.get("image_size", 28)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_IMAGE_SIZE:
        raise ValueError(
            f"data_meta.image_size must be a whole number from 1 to {MAX_IMAGE_SIZE}, got {str(value)[:40]}"
        )
    return value


class VisionAdapter(ModelAdapter):
    """Training, loss and metrics are the multiclass defaults; ``predict`` reads image files."""

    def example_inputs(self) -> list[str]:
        """The shipped example digits (``digit-<label>.png``)."""
        return [str(p) for p in sorted(EXAMPLES.glob("digit-*.png"))]

    def predict(
        self,
        model: nn.Module,
        inputs: list[str],
        meta: dict[str, Any],
        options: dict[str, Any],
        device: torch.device,
    ) -> list[dict[str, Any]]:
        """One result per picture: the digit, its probability and, with ``--top K``, the K best."""
        if not inputs:
            raise UsageError("give at least one image file", hint="zoo predict CKPT digit.png [more.png ...]")
        classes = _classes(meta, model)
        mean, std = _stats(meta)
        top = 1 if options.get("top") is None else options["top"]
        if isinstance(top, bool) or not isinstance(top, int):
            raise UsageError(f"--top must be a whole number, got {top!r}")
        check_range("--top", top, 1, len(classes))  # this model's classes: more cannot be shown
        digits = [load_digit(path) for path in inputs]
        x = torch.stack([d.pixels for d in digits]).to(device)
        x = normalize(x, mean, std)
        model.eval()
        with torch.no_grad():
            probs = torch.softmax(model(x).float(), dim=-1).cpu()
        best_p, best_i = probs.topk(top, dim=-1)
        results = []
        for path, digit, ps, idx in zip(inputs, digits, best_p.tolist(), best_i.tolist(), strict=True):
            ranked = [
                {"class": classes[i], "index": i, "probability": p} for i, p in zip(idx, ps, strict=True)
            ]
            label = ranked[0]["class"]
            display = f"p={ps[0]:.4f}"
            if top > 1:
                display += "  top: " + ", ".join(f"{r['class']} {r['probability']:.4f}" for r in ranked)
            results.append(
                {
                    "input": path,
                    "output": int(label) if label.isdigit() else label,
                    "probability": ps[0],
                    "top": ranked,
                    "inverted": digit.inverted,
                    "display": display,
                }
            )
        return results

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
