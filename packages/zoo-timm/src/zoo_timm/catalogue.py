"""The catalogue of timm architectures and their published weights, read without torch or timm.

``catalogue.json`` is written by ``scripts/make_catalogue.py`` from the installed timm:
per architecture its parameter count, default tag and, per weight tag, the preprocessing
the weights expect (input size, mean/std, interpolation, crop), licence and source.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
from importlib import resources
from typing import Any

#: Comma-separated name patterns (``test_*,resnet18``) that limit which architectures register.
MODELS_VAR = "ZOO_TIMM_MODELS"


@functools.cache
def catalogue() -> dict[str, Any]:
    """The shipped catalogue, parsed once."""
    text = resources.files("zoo_timm").joinpath("catalogue.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def architectures() -> dict[str, dict[str, Any]]:
    """Architecture name -> its entry, limited by ZOO_TIMM_MODELS when that is set."""
    models: dict[str, dict[str, Any]] = catalogue()["models"]
    wanted = [p.strip() for p in os.environ.get(MODELS_VAR, "").split(",") if p.strip()]
    if not wanted:
        return models
    return {
        name: entry for name, entry in models.items() if any(fnmatch.fnmatchcase(name, p) for p in wanted)
    }


def entry(arch: str) -> dict[str, Any]:
    """One architecture's entry; a ValueError naming the known ones when it is not catalogued."""
    models = catalogue()["models"]
    if arch not in models:
        raise ValueError(f"timm architecture {arch!r} is not in zoo-timm's catalogue ({', '.join(models)})")
    found: dict[str, Any] = models[arch]
    return found


def tag_config(arch: str, tag: str) -> dict[str, Any]:
    """The preprocessing and provenance of ``arch``'s weights ``tag``; a ValueError listing the tags."""
    tags: dict[str, Any] = entry(arch)["tags"]
    if tag not in tags:
        from zoo.plugin import did_you_mean

        close = did_you_mean(tag, tags, most=1)
        hint = f"{close} " if close else ""
        raise ValueError(f"timm.{arch} has no weights tagged {tag!r}; {hint}tags: {', '.join(tags)}")
    config: dict[str, Any] = tags[tag]
    return config


def picture_words(config: dict[str, Any], size: int | None = None) -> str:
    """What a picture becomes, in words: ``RGB 224x224, resize 235 (bicubic) + centre crop, mean/std ...``."""
    side = size or int(config["input_size"][-1])
    resize = int(side / float(config["crop_pct"]))
    mean = "/".join(f"{m:.3g}" for m in config["mean"])
    std = "/".join(f"{s:.3g}" for s in config["std"])
    named = " (ImageNet's)" if [round(m, 3) for m in config["mean"]] == [0.485, 0.456, 0.406] else ""
    return (
        f"RGB {side}x{side}, resize {resize} ({config['interpolation']}) + {config['crop_mode']} crop, "
        f"mean {mean} std {std}{named}"
    )


def tag_lines(arch: str) -> list[str]:
    """One line per published weight tag, for ``zoo info``."""
    lines = []
    for tag, config in entry(arch)["tags"].items():
        source = config["hf_hub_id"] or config["source"] or "unknown"
        lines.append(f"{tag}: {picture_words(config)}; licence {config['license']}; from {source}")
    return lines
