"""Running a model for its answers, not for training: eval mode, no gradients, the mode restored.

Every place that calls a model outside a training step (predict, eval, serve, export checks,
epoch reports, ``zoo check``) goes through :func:`evaluating`, so dropout and batch norm
behave as they will in use, no autograd graph is kept, and a model that was training when
it was called is still training afterwards, even when the call raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode without gradients for the block; its previous mode is put back on exit."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def run_eval(model: nn.Module, *inputs: Any) -> Any:
    """One call of ``model`` under :func:`evaluating`: what it returns for ``inputs``."""
    with evaluating(model):
        return model(*inputs)
