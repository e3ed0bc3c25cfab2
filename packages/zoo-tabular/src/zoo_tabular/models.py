"""Builders for the tabular models; each takes the JSON config saved in checkpoints."""

from __future__ import annotations

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
