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

_BASE = Optimizer


def _bare(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The function under torch's decorators (they keep ``__wrapped__``)."""
    return inspect.unwrap(fn)


_ADD_GROUP = _bare(_BASE.add_param_group)
_ZERO_GRAD = _bare(_BASE.zero_grad)
_STATE_DICT = _bare(_BASE.state_dict)
_LOAD_STATE_DICT = _bare(_BASE.load_state_dict)


class _Eager(Optimizer):
    """The shared overrides; ``step`` runs the next class's update under the grad mode it expects."""

    _bare_step: Callable[..., Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        base = next(k for k in cls.__mro__[1:] if k is not _Eager and "step" in vars(k))
        cls._bare_step = staticmethod(_bare(vars(base)["step"]))

    def step(self, closure: Callable[[], float] | None = None) -> Any:
        with torch.set_grad_enabled(bool(self.defaults["differentiable"])):
            return self._bare_step(self, closure)

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


class Adam(_Eager, torch.optim.Adam):
    """``torch.optim.Adam`` without the torch._dynamo import."""


class AdamW(_Eager, torch.optim.AdamW):
    """``torch.optim.AdamW`` without the torch._dynamo import."""


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
