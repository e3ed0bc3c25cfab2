"""The builder: ``timm.create_model`` with the class count and input channels zoo gives it."""

from __future__ import annotations

from torch import nn

from zoo_timm.catalogue import entry


def build(
    arch: str, num_classes: int = 1000, in_chans: int = 3, weights_tag: str = "", weights_sha256: str = ""
) -> nn.Module:
    """A timm model; with ``weights_tag``, started from those hub weights (sha256 ``weights_sha256``).

    timm drops a classifier of another class count and adapts the first convolution to
    ``in_chans``. A checkpoint is rebuilt on the meta device and then filled from its own
    file, so there the hub is never asked for anything.
    """
    import timm
    import torch

    entry(arch)  # only catalogued architectures: an unknown one is named with the known ones
    rebuilding = torch.empty(0).device.type == "meta"
    if not weights_tag or rebuilding:
        model: nn.Module = timm.create_model(
            arch, pretrained=False, num_classes=num_classes, in_chans=in_chans
        )
        return model
    from zoo.plugin import UsageError
    from zoo_timm.hub import fetch

    path, digest = fetch(arch, weights_tag)
    if weights_sha256 and digest != weights_sha256:
        raise UsageError(
            f"timm.{arch}:{weights_tag} on the hub now has sha256 {digest}, not {weights_sha256} as recorded",
            hint="the hub's file changed since this run was planned; start a new run",
        )
    model = timm.create_model(
        arch,
        pretrained=True,
        pretrained_cfg_overlay={"file": str(path)},
        num_classes=num_classes,
        in_chans=in_chans,
    )
    return model
