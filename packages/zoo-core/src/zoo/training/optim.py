"""torch.optim's optimizers, minus the torch._dynamo import that their first call costs.

Every public method of ``torch.optim.Optimizer`` is wrapped so that torch.compile does
not trace into it, and that wrapper imports ``torch._dynamo`` on first use: about 3 s on
a small CPU, longer than a tiny model's whole training. zoo never compiles an optimizer
step, so these subclasses call the same update code without the wrapper. The updates,
the state and ``state_dict()`` are torch.optim's own, bit for bit, and
``isinstance(opt, torch.optim.SGD)`` still holds, so schedulers and GradScaler accept them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

__all__ = ["SGD", "Adam", "AdamW", "make_optimizer"]

# Optimizer's own methods, under torch's decorators (which keep ``__wrapped__``).
_ADD_GROUP = inspect.unwrap(Optimizer.add_param_group)
_ZERO_GRAD = inspect.unwrap(Optimizer.zero_grad)
_STATE_DICT = inspect.unwrap(Optimizer.state_dict)
_LOAD_STATE_DICT = inspect.unwrap(Optimizer.load_state_dict)


class _Eager(Optimizer):
    """The shared overrides; ``step`` runs the class's bare update under the grad mode it expects."""

    _update: Callable[..., Any]

    def step(self, closure: Callable[[], float] | None = None) -> Any:
        with torch.set_grad_enabled(bool(self.defaults["differentiable"])):
            return self._update(self, closure)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _ADD_GROUP(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _ZERO_GRAD(self, set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return _STATE_DICT(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _LOAD_STATE_DICT(self, state_dict)


class SGD(_Eager, torch.optim.SGD):
    """``torch.optim.SGD`` without the torch._dynamo import."""

    _update = staticmethod(inspect.unwrap(torch.optim.SGD.step))


class Adam(_Eager, torch.optim.Adam):
    """``torch.optim.Adam`` without the torch._dynamo import."""

    _update = staticmethod(inspect.unwrap(torch.optim.Adam.step))


class AdamW(_Eager, torch.optim.AdamW):
    """``torch.optim.AdamW`` without the torch._dynamo import."""

    _update = staticmethod(inspect.unwrap(torch.optim.AdamW.step))


def make_optimizer(
    name: str, params: Iterable[torch.nn.Parameter], lr: float, momentum: float, weight_decay: float
) -> Optimizer:
    """The optimizer a recipe names; momentum applies to SGD only."""
    if name == "sgd":
        return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")
