"""Builders for the tabular models; each takes the JSON config saved in checkpoints."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from zoo.errors import UsageError


def build_line(
    in_features: int = 1, bias: bool = False, init_weight: float = 1.0, init_bias: float = 0.0
) -> nn.Linear:
    """y = w*x (+ b): a bare ``nn.Linear`` so hand-written updates can reach ``weight`` and ``bias``.

    The start is fixed (w = 1 as in the notes) rather than random, so every fitting
    method starts from the same place and the runs compare.
    """
    model = nn.Linear(in_features, 1, bias=bias)
    with torch.no_grad():
        model.weight.fill_(init_weight)
        if model.bias is not None:
            model.bias.fill_(init_bias)
    return model


class LogisticRegression(nn.Module):
    """sigmoid(Linear(x)): outputs the probability of label 1."""

    def __init__(self, in_features: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x))


def build_logistic(in_features: int = 1) -> LogisticRegression:
    return LogisticRegression(in_features)


def build_mlp(in_features: int = 8, hidden: Sequence[int] = (6, 4)) -> nn.Sequential:
    """Linear layers each followed by a sigmoid, ending in one probability (8-6-4-1 by default)."""
    if in_features < 1 or any(int(h) < 1 for h in hidden):
        raise UsageError(
            f"layer sizes must be positive, got --in-features {in_features} --hidden {list(hidden)}"
        )
    layers: list[nn.Module] = []
    width = in_features
    for size in [*(int(h) for h in hidden), 1]:
        layers += [nn.Linear(width, size), nn.Sigmoid()]
        width = size
    return nn.Sequential(*layers)


def _relu_stack(in_features: int, hidden: Sequence[int], out_features: int, what: str) -> nn.Sequential:
    """Linear layers with ReLU between them, ending in ``out_features`` raw outputs."""
    sizes = [int(h) for h in hidden]
    if in_features < 1 or out_features < 1 or any(h < 1 for h in sizes):
        raise UsageError(
            f"layer sizes must be positive, got --in-features {in_features} --hidden {sizes} {what}",
            hint="e.g. --hidden 64,32",
        )
    layers: list[nn.Module] = []
    width = in_features
    for size in sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def build_classifier(
    in_features: int = 8, num_classes: int = 2, hidden: Sequence[int] = (64, 32)
) -> nn.Sequential:
    """A ReLU MLP with one score (logit) per class; the data sets both ends, ``hidden`` the middle."""
    return _relu_stack(in_features, hidden, num_classes, f"--num-classes {num_classes}")


class Regressor(nn.Module):
    """A ReLU MLP whose output is scaled back to the target's units.

    The network learns the standardized target; ``target_mean`` and ``target_std`` (the
    training split's, from the model config) undo it, so predictions, metrics and an
    exported graph all speak the target's units.
    """

    def __init__(self, net: nn.Sequential, target_mean: float, target_std: float) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("target_mean", torch.tensor(float(target_mean)), persistent=False)
        self.register_buffer("target_std", torch.tensor(float(target_std)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.target_std + self.target_mean


def build_regressor(
    in_features: int = 1, hidden: Sequence[int] = (64, 32), target_mean: float = 0.0, target_std: float = 1.0
) -> Regressor:
    """One output in the target's units; ``target_std`` must be positive (it scales the output)."""
    if not (math.isfinite(target_mean) and math.isfinite(target_std) and target_std > 0):
        raise UsageError(
            f"target_mean must be finite and target_std positive, got {target_mean}, {target_std}"
        )
    return Regressor(_relu_stack(in_features, hidden, 1, ""), target_mean, target_std)
