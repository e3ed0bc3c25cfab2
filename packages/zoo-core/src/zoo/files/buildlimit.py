"""A bound on how much a model builder may register, enforced while it runs.

A checkpoint's config is read from the file, so a few bytes can ask a builder for
twenty thousand recurrent layers. Even on the meta device, where no memory is
allocated, building that costs minutes (torch's own bookkeeping grows with the
square of the layer count), and only afterwards would the shape check say that the
weights do not fit. A model that fits a checkpoint has one tensor in the file per
parameter and persistent buffer, so the number of parameters, buffers and
submodules a builder may register is bounded by the file's own tensor count.
``bounded_build`` counts registrations through torch's global registration hooks and
stops the builder as soon as it passes the bound, whatever the plugin's code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch.nn.modules import module as nn_module

#: Registrations allowed per tensor stored in a checkpoint (parameters, buffers, submodules).
PER_TENSOR = 4
#: Registrations allowed beyond that, for parameter-free modules (activations, containers).
SLACK = 1024
#: Registrations any one build may make: far above the classic models (a ResNet-152 makes
#: about 4,000), and reached in about a second, since torch's cost grows with its square.
BUILD_LIMIT = 20_000


class BuildLimitError(Exception):
    """A builder registered more parameters, buffers and submodules than allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the model registered more than {limit:,} parameters, buffers and submodules")
        self.limit = limit


def checkpoint_limit(tensors: int) -> int:
    """The most registrations a model fitting a checkpoint of ``tensors`` tensors can need."""
    return PER_TENSOR * max(tensors, 0) + SLACK


@contextlib.contextmanager
def bounded_build(limit: int) -> Iterator[None]:
    """Raise BuildLimitError from inside any builder that registers more than ``limit`` things.

    The hooks are global while the block runs; they are always removed afterwards.
    """
    count = 0

    def hook(*_: Any) -> None:
        nonlocal count
        count += 1
        if count > limit:
            raise BuildLimitError(limit)

    handles = [
        nn_module.register_module_parameter_registration_hook(hook),
        nn_module.register_module_buffer_registration_hook(hook),
        nn_module.register_module_module_registration_hook(hook),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
