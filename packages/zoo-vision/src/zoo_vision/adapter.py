"""What the MNIST models do differently from zoo's multiclass defaults: they predict from pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.adapter import ModelAdapter
from zoo.errors import UsageError
from zoo_vision.images import load_digit
from zoo_vision.mnist import MEAN, STD, normalize

#: Real MNIST test digits shipped with the package, one per class.
EXAMPLES = Path(__file__).parent / "examples"


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
        classes = [str(c) for c in meta.get("classes", [str(d) for d in range(10)])]
        top = options.get("top") or 1
        if not isinstance(top, int) or top < 1:
            raise UsageError(f"--top must be a positive integer, got {top!r}")
        top = min(top, len(classes))
        digits = [load_digit(path) for path in inputs]
        x = torch.stack([d.pixels for d in digits]).to(device)
        x = normalize(x, float(meta.get("mean", MEAN)), float(meta.get("std", STD)))
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
        side = int(meta.get("image_size", 28))
        return torch.randn(batch, 1, side, side, generator=torch.Generator().manual_seed(0))

    def input_form(self, meta: dict[str, Any]) -> dict[str, Any]:
        """A picture of one digit: the page offers a drawing canvas and a file upload."""
        classes = [str(c) for c in meta.get("classes", [str(d) for d in range(10)])]
        return {"kind": "image", "size": int(meta.get("image_size", 28)), "classes": classes}

    def preprocessing(self, meta: dict[str, Any]) -> dict[str, Any]:
        """MNIST framing, then ``(pixels / 255 - mean) / std``."""
        return {
            "image": "8-bit grayscale, light digit on black, in a 20x20 box centred by mass in 28x28",
            "scale": 1 / 255,
            "normalize": {"mean": float(meta.get("mean", MEAN)), "std": float(meta.get("std", STD))},
            "classes": [str(c) for c in meta.get("classes", [str(d) for d in range(10)])],
        }
