"""Continuing a text with a character model: greedy or seeded sampling, one character at a time."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def generate(
    model: nn.Module,
    prefix: list[int],
    count: int,
    context: int,
    temperature: float,
    generator: torch.Generator | None,
    device: torch.device,
) -> list[int]:
    """``count`` more indices after ``prefix``; temperature 0 picks the likeliest each time.

    The model sees the last ``context`` characters, as long as its training windows,
    so it always starts from the zero state it was trained from. Sampling runs on
    the CPU with ``generator`` so a seed gives the same text on every device.
    """
    ids = list(prefix)
    for _ in range(count):
        window = torch.tensor([ids[-context:]], dtype=torch.int64, device=device)
        logits = model(window)[0, -1].float().cpu()
        if temperature <= 0:
            ids.append(int(logits.argmax()))
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            ids.append(int(torch.multinomial(probs, 1, generator=generator)))
    return ids[len(prefix) :]


class Generation(nn.Module):
    """The model in a sampling loop: ``(B, T)`` indices -> ``(B, T + count)``, each input and what follows it.

    Rows are continued one after another with one generator, so a seed gives the same text
    however the inputs are batched.
    """

    def __init__(
        self, model: nn.Module, count: int, context: int, temperature: float, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.model = model
        self.count, self.context, self.temperature, self.generator = count, context, temperature, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = []
        for row in x.tolist():
            context = self.context or len(row)
            rows.append(
                row
                + generate(self.model, row, self.count, context, self.temperature, self.generator, x.device)
            )
        return torch.tensor(rows, dtype=torch.int64)
