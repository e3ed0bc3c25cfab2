"""Regenerate ``src/zoo_timm/catalogue.json`` from the installed timm.

The plugin registers its models from that file, so ``zoo list`` and ``zoo info`` never
import torch or timm. Run it after upgrading timm or changing ARCHS::

    python packages/zoo-timm/scripts/make_catalogue.py [OUT.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import get_pretrained_cfg

#: The architectures registered, with what each is in a few words.
ARCHS: dict[str, str] = {
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
    "mobilenetv3_small_100": "MobileNetV3 small",
    "mobilenetv3_large_100": "MobileNetV3 large",
    "efficientnet_b0": "EfficientNet-B0",
    "convnext_atto": "ConvNeXt atto",
    "convnext_nano": "ConvNeXt nano",
    "regnety_004": "RegNetY-400MF",
    "vit_tiny_patch16_224": "ViT-Tiny, patch 16",
    "deit_tiny_patch16_224": "DeiT-Tiny, patch 16",
}
#: timm's tiny test models that have published weights (fast enough for a CPU check).
TEST_PATTERN = "test_*"
OUT = Path(__file__).resolve().parent.parent / "src" / "zoo_timm" / "catalogue.json"
CFG_KEYS = ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode", "num_classes")


def tag_entry(arch: str, tag: str) -> dict[str, Any]:
    found = get_pretrained_cfg(f"{arch}.{tag}")
    assert found is not None, f"{arch}.{tag}"
    cfg = found.to_dict()
    entry = {key: cfg[key] for key in CFG_KEYS}
    entry["input_size"] = list(entry["input_size"])
    entry["mean"], entry["std"] = list(entry["mean"]), list(entry["std"])
    entry["license"] = cfg.get("license") or "unknown"
    entry["hf_hub_id"] = cfg.get("hf_hub_id") or ""
    entry["source"] = cfg.get("origin_url") or cfg.get("url") or ""
    entry["min_input_size"] = list(cfg.get("min_input_size") or []) or None
    entry["fixed_input_size"] = bool(cfg.get("fixed_input_size", False))
    return entry


def arch_entry(arch: str, summary: str) -> dict[str, Any]:
    tags = [name.split(".", 1)[1] for name in timm.list_pretrained(f"{arch}.*")]
    with torch.device("meta"):
        model = timm.create_model(arch, pretrained=False)
    return {
        "summary": summary,
        "default_tag": tags[0] if tags else "",
        "parameters": sum(p.numel() for p in model.parameters()),
        "tags": {tag: tag_entry(arch, tag) for tag in tags},
    }


def main(argv: list[str]) -> int:
    tests = sorted({name.split(".", 1)[0] for name in timm.list_pretrained(TEST_PATTERN)})
    archs = {**ARCHS, **{name: f"timm's tiny test model {name}" for name in tests}}
    catalogue = {
        "timm_version": timm.__version__,
        "models": {arch: arch_entry(arch, summary) for arch, summary in archs.items()},
    }
    out = Path(argv[1]) if len(argv) > 1 else OUT
    out.write_text(json.dumps(catalogue, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(catalogue['models'])} architectures to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
