"""Descriptions of models and datasets that plugins hand to core.

Nothing here imports torch: listing models must stay instant, so a spec names its
builder, data loader and adapter as ``"module:attribute"`` strings (or plain
callables) that are resolved only when a model is actually built or trained.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo.contracts.published import Weights as Weights
from zoo.contracts.published import published_weights as published_weights
from zoo.contracts.tasks import TASKS as TASKS  # the task names live beside what each task means

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
    "min_steps": 0,
}

Ref = str | Callable[..., Any]
DEVICE_KINDS: tuple[str, ...] = ("any", "cpu", "accelerator")


def check_ref(ref: Ref | None, what: str) -> None:
    """Refuse a reference that can never resolve, without importing it (no torch here)."""
    if ref is None or callable(ref):
        return
    if not isinstance(ref, str):
        raise ValueError(f"{what} must be a 'module:attribute' string or a callable, not {type(ref).__name__}")
    module, sep, attr = ref.partition(":")
    parts = [*module.split("."), *attr.split(".")]
    if not sep or not all(p.isidentifier() for p in parts):
        raise ValueError(f"{what} {ref!r} is not of the form 'package.module:attribute'")


def resolve(ref: Ref) -> Any:
    """Import ``"package.module:attr"`` lazily; callables pass through."""
    if not isinstance(ref, str):
        return ref
    module_name, sep, attr = ref.partition(":")
    if not sep or not attr:
        raise ValueError(f"reference {ref!r} is not of the form 'module:attribute'")
    from zoo.errors import UsageError
    from zoo.plugins.loadcode import plugin_code

    try:
        if module_name in sys.modules:  # the usual case: no guard needed for a module already loaded
            obj: Any = sys.modules[module_name]
        else:
            with plugin_code(repr(module_name), "import"):
                obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except UsageError:
        raise
    except Exception as exc:  # a plugin module that fails to import, whatever it raises
        raise UsageError(
            f"cannot load {ref!r}: {type(exc).__name__}: {exc}",
            hint="the plugin that registered it is broken or half installed; reinstall it",
        ) from None
    return obj


@dataclass(frozen=True)
class Option:
    """An option only some models understand (``zoo predict --top 3``), declared by the plugin.

    The default's type says how command-line text is read; ``kind`` names the type
    when the default is None (``"int"``, ``"float"``, ``"str"``, ``"bool"``, ``"path"``).
    """

    name: str
    default: Any
    help: str
    kind: str = ""
    #: Smallest and largest value a number may take (None: no bound). Core refuses values
    #: outside them with the range named, on the command line and in ``zoo serve`` alike.
    low: int | float | None = None
    high: int | float | None = None

    def check(self) -> None:
        """Refuse bounds that cannot apply: on a non-number, or a low above the high."""
        for bound in (self.low, self.high):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
                raise ValueError(f"option {self.name!r}: bound {bound!r} is not a number")
        if (self.low is not None or self.high is not None) and self.type_name not in ("int", "float"):
            raise ValueError(f"option {self.name!r}: bounds need an int or float option, not {self.type_name}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"option {self.name!r}: low {self.low} is above high {self.high}")

    @property
    def type_name(self) -> str:
        if self.kind:
            return self.kind
        return "str" if self.default is None else type(self.default).__name__

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


#: ``--top K`` of a classifier, declared once: core's multiclass task reads it when it decodes,
#: and a plugin lists it in ``predict_options`` (``zoo.plugin.TOP_CLASSES``).
TOP_CLASSES = Option("top", 1, "show the K most likely classes", low=1)


@dataclass(frozen=True)
class Recipe:
    """A named set of hyperparameters: how to train a model, not what it is.

    ``device`` says where the recipe is meant to run (``"any"``, ``"cpu"`` or
    ``"accelerator"``): a model may offer one ``default`` per kind and the trainer
    takes the one for the device in use. ``target`` is the metric and value the recipe
    promises, ``expected`` the range its final metric should land in (``zoo bench``).
    ``space`` is the search space ``zoo tune`` uses when given no ``--space``: the
    same ``KEY: SPEC`` pairs (``"lr": "1e-4..1e-1:log"``, ``"batch_size": "16,32,64"``).
    """

    name: str
    summary: str
    hparams: Mapping[str, Any] = field(default_factory=dict)
    device: str = "any"
    target: tuple[str, float] | None = None
    expected: tuple[float, float] | None = None
    space: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in dict(self.hparams).items())
        where = f", device={self.device!r}" if self.device != "any" else ""
        return f"Recipe({self.name!r}{', ' + settings if settings else ''}{where})"

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
    #: One of ``zoo.contracts.tasks.TASKS``: says how the model is trained, scored and read (``zoo.contracts.tasks``).
    task: str
    builder: Ref
    dataset: str
    recipes: tuple[Recipe, ...]
    default_recipe: str = "default"
    config: Mapping[str, Any] = field(default_factory=dict)
    adapter: Ref | None = None
    input_shape: str = ""
    output_shape: str = ""
    #: Options of ``zoo predict`` for this model, parsed and type-checked by core.
    predict_options: tuple[Option, ...] = ()
    #: Inputs ``zoo predict`` accepts, used by ``zoo check`` and shown in help.
    examples: tuple[str, ...] = ()
    weights: tuple[Weights, ...] = ()
    # Filled in by the registry, never by the plugin.
    namespace: str = ""
    distribution: str = ""
    version: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    def __repr__(self) -> str:
        plugin = f", plugin={self.distribution + ' ' + self.version if self.version else self.distribution!r}"
        return (
            f"ModelSpec({self.full_name!r}, task={self.task!r}, dataset={self.dataset!r}, "
            f"recipes={[r.name for r in self.recipes]!r}"
            + (f", weights={[w.tag for w in self.weights]!r}" if self.weights else "")
            + (plugin if self.distribution else "")
            + ")"
        )

    def recipe(self, name: str | None = None, device: str = "any") -> Recipe:
        """The named recipe (the default one when None), in its variant for ``device``."""
        wanted = name or self.default_recipe
        matches = [r for r in self.recipes if r.name == wanted]
        for kind in (device, "any", "cpu", "accelerator"):
            for recipe in matches:
                if recipe.device == kind:
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
        for label, ref in (("builder", self.builder), ("adapter", self.adapter)):
            check_ref(ref, f"model {self.name!r} {label}")
        for recipe in self.recipes:
            if recipe.device not in DEVICE_KINDS:
                raise ValueError(
                    f"model {self.name!r} recipe {recipe.name!r}: device {recipe.device!r} is not one of "
                    + ", ".join(DEVICE_KINDS)
                )
        names = [o.name for o in self.predict_options]
        if len(set(names)) != len(names):
            raise ValueError(f"model {self.name!r} declares a predict option twice")
        for option in self.predict_options:
            option.check()
        tags = [w.tag for w in self.weights]
        if len(set(tags)) != len(tags):
            raise ValueError(f"model {self.name!r} declares a weight tag twice")


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
    #: A loader of a few samples that needs no download, for ``zoo check``.
    sample: Ref | None = None
    #: Options that name files, folders or addresses of this machine (``--data``, a mirror
    #: URL): kept out of checkpoints that people share, and never read back from one.
    path_options: tuple[str, ...] = ()
    namespace: str = ""
    distribution: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    def __repr__(self) -> str:
        return f"DatasetSpec({self.full_name!r}, options={sorted(self.options)!r})"
