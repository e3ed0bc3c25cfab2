"""The three character models of the notes, section 11.

All map ``(B, T)`` int64 character indices to ``(B, T, V)`` logits, whatever they
do inside, so one trainer, one loss and one predictor serve them all. Where the
notes use the hidden state itself as the logits (hidden size = vocabulary size),
so do these models; a different hidden size adds a linear read-out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from zoo.plugin import UsageError


def _check(name: str, value: int, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UsageError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _read_out(hidden_size: int, vocab_size: int) -> nn.Module:
    """The notes read logits straight off the hidden state; other sizes need a layer."""
    return nn.Identity() if hidden_size == vocab_size else nn.Linear(hidden_size, vocab_size)


class CharRNNCell(nn.Module):
    """One-hot characters fed one step at a time through ``nn.RNNCell`` (notes 11.1)."""

    def __init__(self, vocab_size: int = 4, hidden_size: int = 0) -> None:
        super().__init__()
        self.vocab_size = _check("vocab_size", vocab_size, 1)
        self.hidden_size = _check("hidden_size", hidden_size, 0) or vocab_size
        self.cell = nn.RNNCell(self.vocab_size, self.hidden_size)
        self.head = _read_out(self.hidden_size, self.vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = F.one_hot(x, self.vocab_size).to(self.cell.weight_ih.dtype)
        hidden = inputs.new_zeros(x.shape[0], self.hidden_size)
        steps = []
        for t in range(x.shape[1]):
            hidden = self.cell(inputs[:, t], hidden)
            steps.append(hidden)
        return self.head(torch.stack(steps, dim=1))


class CharRNN(nn.Module):
    """The same task through ``nn.RNN``, which runs the loop over time itself (notes 11.2)."""

    def __init__(
        self, vocab_size: int = 4, hidden_size: int = 0, num_layers: int = 1, batch_first: bool = False
    ) -> None:
        super().__init__()
        self.vocab_size = _check("vocab_size", vocab_size, 1)
        self.hidden_size = _check("hidden_size", hidden_size, 0) or vocab_size
        self.num_layers = _check("num_layers", num_layers, 1)
        self.batch_first = bool(batch_first)
        self.rnn = nn.RNN(
            self.vocab_size, self.hidden_size, num_layers=self.num_layers, batch_first=self.batch_first
        )
        self.head = _read_out(self.hidden_size, self.vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = F.one_hot(x, self.vocab_size).to(next(self.rnn.parameters()).dtype)
        if not self.batch_first:  # nn.RNN's own layout is (T, B, features)
            inputs = inputs.transpose(0, 1)
        hidden = inputs.new_zeros(self.num_layers, x.shape[0], self.hidden_size)
        out, _ = self.rnn(inputs, hidden)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return self.head(out)


class CharEmbeddingRNN(nn.Module):
    """``nn.Embedding`` -> ``nn.RNN`` -> ``nn.Linear``: learned codes instead of one-hot (notes 11.3)."""

    def __init__(
        self,
        vocab_size: int = 4,
        embedding_size: int = 10,
        hidden_size: int = 8,
        num_layers: int = 2,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        self.vocab_size = _check("vocab_size", vocab_size, 1)
        self.hidden_size = _check("hidden_size", hidden_size, 1)
        self.num_layers = _check("num_layers", num_layers, 1)
        self.batch_first = bool(batch_first)
        self.emb = nn.Embedding(self.vocab_size, _check("embedding_size", embedding_size, 1))
        self.rnn = nn.RNN(
            embedding_size, self.hidden_size, num_layers=self.num_layers, batch_first=self.batch_first
        )
        self.fc = nn.Linear(self.hidden_size, self.vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = self.emb(x)
        if not self.batch_first:
            inputs = inputs.transpose(0, 1)
        hidden = inputs.new_zeros(self.num_layers, x.shape[0], self.hidden_size)
        out, _ = self.rnn(inputs, hidden)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return self.fc(out)
