"""The hooks a zoo plugin can implement.

Each hook receives a ``register`` callable and calls it once per thing it offers.
Passing a callback (rather than returning lists) lets core attribute every
registration to the plugin that made it and keep going when one plugin fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register_models(register: Callable[[Any], None]) -> None:
    """Register models: call ``register(ModelSpec(...))`` for each one."""


@hookspec
def zoo_register_datasets(register: Callable[[Any], None]) -> None:
    """Register datasets: call ``register(DatasetSpec(...))`` for each one."""


@hookspec
def zoo_register_devices(register: Callable[[Any], None]) -> None:
    """Register device backends: call ``register(DeviceBackend subclass instance)``."""
