"""Core's own device backends, registered through the same hook plugins use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.backend import CpuBackend, CudaBackend, MpsBackend, NpuBackend
from zoo.contracts.hookspecs import hookimpl


@hookimpl
def zoo_register_devices(register: Callable[[Any], None]) -> None:
    for backend in (CpuBackend(), CudaBackend(), MpsBackend(), NpuBackend()):
        register(backend)
