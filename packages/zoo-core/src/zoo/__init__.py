"""zoo: a plugin-based model zoo for PyTorch.

Importing ``zoo`` is cheap and never imports torch; the functions below import what
they need when called.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError
from zoo.hookspecs import hookimpl
from zoo.spec import DatasetSpec, ModelSpec, Recipe

if TYPE_CHECKING:
    from zoo.backend import DeviceBackend
    from zoo.checkpoint import LoadedModel
    from zoo.trainer import Run

try:
    __version__ = _metadata.version("zoo-core")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "DatasetSpec",
    "ModelSpec",
    "Recipe",
    "ZooError",
    "__version__",
    "create",
    "devices",
    "get_spec",
    "hookimpl",
    "list_models",
    "load",
    "train",
]


def list_models(pattern: str | None = None, task: str | None = None) -> list[ModelSpec]:
    """Registered models, optionally filtered by a shell-style pattern and a task."""
    from zoo.registry import get_registry

    return get_registry().find(pattern, task=task)


def get_spec(name: str) -> ModelSpec:
    """The spec of one model; raises UnknownModelError with suggestions."""
    from zoo.registry import get_registry

    return get_registry().model(name)


def create(name: str, **overrides: Any) -> Any:
    """Build the named model on the CPU with its default config plus ``overrides``."""
    from zoo.registry import build_model

    return build_model(get_spec(name), overrides)


def devices() -> list[DeviceBackend]:
    """Every registered device backend, available or not."""
    from zoo.registry import get_registry

    return list(get_registry().devices.values())


def train(name: str, **overrides: Any) -> Run:
    """Train a model as ``zoo train`` does and return the finished run."""
    from zoo.trainer import train as _train

    return _train(name, **overrides)


def load(path: str, device: str = "cpu") -> LoadedModel:
    """Rebuild a model from one ``.safetensors`` checkpoint alone."""
    from zoo.checkpoint import load_checkpoint

    return load_checkpoint(path, device=device)
