"""Descriptions of models and datasets that plugins hand to core.

Nothing here imports torch: listing models must stay instant, so a spec names its
builder, data loader and adapter as ``"module:attribute"`` strings (or plain
callables) that are resolved only when a model is actually built or trained.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Task = Literal["regression", "binary", "multiclass", "sequence"]
TASKS: tuple[str, ...] = ("regression", "binary", "multiclass", "sequence")

#: Hyperparameters every recipe has; plugins may add their own keys.
BASE_HPARAMS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 32,
    "lr": 0.01,
    "optimizer": "sgd",
    "momentum": 0.0,
    "weight_decay": 0.0,
    "schedule": "none",
    "method": "autograd",
}

Ref = str | Callable[..., Any]


def resolve(ref: Ref) -> Any:
    """Import ``"package.module:attr"`` lazily; callables pass through."""
    if not isinstance(ref, str):
        return ref
    module_name, sep, attr = ref.partition(":")
    if not sep or not attr:
        raise ValueError(f"reference {ref!r} is not of the form 'module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Recipe:
    """A named set of hyperparameters: how to train a model, not what it is."""

    name: str
    summary: str
    hparams: Mapping[str, Any] = field(default_factory=dict)

    def resolved(self) -> dict[str, Any]:
        """The recipe's hyperparameters on top of the shared defaults."""
        return {**BASE_HPARAMS, **dict(self.hparams)}


@dataclass(frozen=True)
class ModelSpec:
    """Everything core needs to list, build, train and reload one model.

    ``name`` is the short name; the registry prefixes the plugin's namespace to make
    the full name (``tabular.linear``). ``config`` holds the builder's keyword
    arguments; they are saved in every checkpoint so the model can be rebuilt.
    """

    name: str
    summary: str
    task: Task
    builder: Ref
    dataset: str
    recipes: tuple[Recipe, ...]
    default_recipe: str = "default"
    config: Mapping[str, Any] = field(default_factory=dict)
    adapter: Ref | None = None
    input_shape: str = ""
    output_shape: str = ""
    # Filled in by the registry, never by the plugin.
    namespace: str = ""
    distribution: str = ""
    version: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    def recipe(self, name: str | None = None) -> Recipe:
        wanted = name or self.default_recipe
        for recipe in self.recipes:
            if recipe.name == wanted:
                return recipe
        known = ", ".join(r.name for r in self.recipes)
        raise KeyError(f"{self.full_name} has no recipe {wanted!r} (recipes: {known})")

    def validate(self) -> None:
        """Reject specs that could never work, at registration time."""
        if not self.name or " " in self.name:
            raise ValueError(f"model name {self.name!r} is empty or has spaces")
        if self.task not in TASKS:
            raise ValueError(f"model {self.name!r}: task {self.task!r} is not one of {', '.join(TASKS)}")
        if not self.recipes:
            raise ValueError(f"model {self.name!r} has no recipes")
        self.recipe()  # the default recipe must exist


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a plugin can load; ``loader`` turns a DataRequest into a DataBundle.

    ``options`` are the data-specific command-line options with their defaults
    (``--data``, ``--val-fraction``…); ``files`` names what must be in the data
    directory, for error messages and ``zoo info``.
    """

    name: str
    summary: str
    loader: Ref
    options: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    namespace: str = ""
    distribution: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name
