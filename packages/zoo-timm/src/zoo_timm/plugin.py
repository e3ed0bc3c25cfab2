"""Hook implementations: timm's architectures as ``timm.<arch>``, from the shipped catalogue.

Imported whenever zoo lists its plugins, so it imports neither torch nor timm: everything
shown comes from ``catalogue.json``, and the builder, loaders and adapter are named as
``"module:attr"`` strings resolved only when a model is built or trained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.plugin import TOP_CLASSES, DatasetSpec, ModelSpec, Recipe, hookimpl
from zoo_timm.catalogue import architectures, picture_words

#: Most pixels one picture may declare before it is decoded (as zoo-vision's folders).
MAX_PIXELS = 4096 * 4096
#: Megabytes the decoded training and validation pictures may take in memory, together.
MEMORY_MB = 2048

#: Fine-tuning or training a small backbone on a few thousand pictures: AdamW, one cycle.
DEFAULT = Recipe(
    "default",
    "AdamW with a one-cycle schedule, batch 32, 10 epochs",
    {
        "epochs": 10,
        "batch_size": 32,
        "lr": 0.002,
        "optimizer": "adamw",
        "weight_decay": 0.05,
        "schedule": "onecycle",
    },
    space={"lr": "0.0002..0.01:log", "weight_decay": "0.00001..0.1:log"},
)
PREDICT_OPTIONS = (TOP_CLASSES,)


def data_options(arch: str, tag: str) -> dict[str, Any]:
    """What ``--data DIR`` training reads, at which weights' preprocessing (``--tag``), and
    ``--pretrained TAG``: start from those weights, fetched from the Hugging Face Hub."""
    return {
        "data": "",
        "arch": arch,
        "tag": tag,
        "pretrained": "",
        "image_size": 0,
        "val_fraction": 0.2,
        "skip_bad_images": False,
        "max_pixels": MAX_PIXELS,
        "memory_mb": MEMORY_MB,
    }


def _summary(arch: str, entry: dict[str, Any]) -> str:
    tags = list(entry["tags"])
    shown = ", ".join(tags[:6]) + (f" and {len(tags) - 6} more" if len(tags) > 6 else "")
    return f"{entry['summary']} from timm, {entry['parameters'] / 1e6:.2f}M parameters; weights: {shown}"


@hookimpl
def zoo_register_datasets(register: Callable[[Any], None]) -> None:
    for arch, entry in architectures().items():
        tag = entry["default_tag"]
        register(
            DatasetSpec(
                name=f"pictures-{arch}",
                summary=f"your pictures, one folder per class (--data DIR), as timm.{arch}:{tag} sees them: "
                + picture_words(entry["tags"][tag]),
                loader="zoo_timm.data:load",
                options=data_options(arch, tag),
                sample="zoo_timm.data:load_sample",
                path_options=("data",),
            )
        )


@hookimpl
def zoo_register_models(register: Callable[[Any], None]) -> None:
    for arch, entry in architectures().items():
        tag = entry["default_tag"]
        side = entry["tags"][tag]["input_size"][-1]
        register(
            ModelSpec(
                name=arch,
                summary=_summary(arch, entry),
                task="multiclass",
                builder="zoo_timm.models:build",
                dataset=f"timm.pictures-{arch}",
                recipes=(DEFAULT,),
                config={
                    "arch": arch,
                    "num_classes": entry["tags"][tag]["num_classes"],
                    "in_chans": 3,
                    "weights_tag": "",
                    "weights_sha256": "",
                },
                adapter="zoo_timm.adapter:TimmAdapter",
                input_shape=f"(N, 3, {side}, {side}) normalized pictures: "
                + picture_words(entry["tags"][tag]),
                output_shape="(N, classes) logits (the class folders of --data DIR)",
                predict_options=PREDICT_OPTIONS,
            )
        )
