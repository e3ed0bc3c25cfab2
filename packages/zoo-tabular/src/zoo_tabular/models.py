"""Builders for the tabular models; each takes the JSON config saved in checkpoints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.plugin import UsageError


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


def embedding_size(count: int) -> int:
    """fastai's rule of thumb for an embedding's width from a column's category count."""
    return min(600, round(1.6 * count**0.56))


class TableNet(nn.Module):
    """Raw table rows in, scores out: imputation, standardization and categories happen inside.

    The input is (N, numeric + categorical) floats: the raw numbers, NaN where a cell is
    missing, then one category index per categorical column. Missing numbers become the
    training median plus a 0/1 indicator; numbers are standardized with the training
    split's mean and scale; each category index is embedded (or one-hot encoded), an
    index outside the column's range reading as "unknown" (0). Keeping this in the model
    is what lets an exported graph and ``/v2`` take raw rows.
    """

    median: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    indicator: torch.Tensor
    cards: torch.Tensor

    def __init__(self, table: dict[str, Any], hidden: Sequence[int], out_features: int) -> None:
        super().__init__()
        k = int(table["numeric"])
        cards = [int(c) for c in table["categories"]]
        self.numeric = k
        for key in ("median", "mean", "std"):
            self.register_buffer(
                key, torch.tensor(table[key], dtype=torch.float32).reshape(k), persistent=False
            )
        self.register_buffer(
            "indicator", torch.tensor(table["indicator"], dtype=torch.int64), persistent=False
        )
        self.register_buffer("cards", torch.tensor(cards, dtype=torch.float32), persistent=False)
        self.onehot = table.get("encoding", "embedding") == "onehot"
        if self.onehot:
            self.embeddings = nn.ModuleList()
            for i, c in enumerate(cards):
                self.register_buffer(f"eye{i}", torch.eye(c), persistent=False)
            width = sum(cards)
        else:
            self.embeddings = nn.ModuleList(nn.Embedding(c, embedding_size(c)) for c in cards)
            width = sum(embedding_size(c) for c in cards)
        self.net = _relu_stack(k + len(self.indicator) + width, hidden, out_features, "")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.numeric
        raw = x[:, :k]
        missing = torch.isnan(raw)
        filled = torch.where(missing, self.median, raw)
        parts = [(filled - self.mean) / self.std, missing[:, self.indicator].to(x.dtype)]
        cats = x[:, k:]
        valid = (cats >= 0) & (cats < self.cards)  # NaN compares false: unknown too
        index = torch.where(valid, cats, torch.zeros_like(cats)).long()
        for i in range(len(self.cards)):
            weight = getattr(self, f"eye{i}") if self.onehot else self.embeddings[i].weight
            assert isinstance(weight, torch.Tensor)
            parts.append(F.embedding(index[:, i], weight))
        return self.net(torch.cat(parts, dim=1))


def build_classifier(
    in_features: int = 8,
    num_classes: int = 2,
    hidden: Sequence[int] = (64, 32),
    table: dict[str, Any] | None = None,
    class_weight: Sequence[float] | None = None,
) -> nn.Module:
    """A ReLU MLP with one score (logit) per class; the data sets both ends, ``hidden`` the middle.

    With ``table`` (any CSV since columns are typed) the MLP sits in a :class:`TableNet`;
    without it, the plain stack that older checkpoints hold. ``class_weight`` is read by
    the adapter's loss, not by the network.
    """
    if table is None:
        return _relu_stack(in_features, hidden, num_classes, f"--num-classes {num_classes}")
    return TableNet(table, hidden, num_classes)


class Regressor(nn.Module):
    """A ReLU MLP whose output is scaled back to the target's units.

    The network learns the standardized target; ``target_mean`` and ``target_std`` (the
    training split's, from the model config) undo it, so predictions, metrics and an
    exported graph all speak the target's units.
    """

    def __init__(self, net: nn.Module, target_mean: float, target_std: float) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("target_mean", torch.tensor(float(target_mean)), persistent=False)
        self.register_buffer("target_std", torch.tensor(float(target_std)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.target_std + self.target_mean


def build_regressor(
    in_features: int = 1,
    hidden: Sequence[int] = (64, 32),
    target_mean: float = 0.0,
    target_std: float = 1.0,
    table: dict[str, Any] | None = None,
) -> Regressor:
    """One output in the target's units; ``target_std`` must be positive (it scales the output)."""
    if not (math.isfinite(target_mean) and math.isfinite(target_std) and target_std > 0):
        raise UsageError(
            f"target_mean must be finite and target_std positive, got {target_mean}, {target_std}"
        )
    net = _relu_stack(in_features, hidden, 1, "") if table is None else TableNet(table, hidden, 1)
    return Regressor(net, target_mean, target_std)
