"""Plugins without packaging: importable modules (``zoo --plugin``, ``ZOO_PLUGINS``) and
models registered from Python (``@zoo.register_model``, ``zoo.fit``).

Packaging a plugin with an entry point is for sharing it. These go through the same
loader as entry points: a module that fails to import is reported and skipped, every
registration is attributed and validated, and one module's failure stays its own. No torch.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from zoo import env
from zoo.contracts.spec import DatasetSpec, ModelSpec, Recipe, check_ref, resolve
from zoo.errors import CheckpointError, UsageError
from zoo.version import __version__

F = TypeVar("F", bound=Callable[..., Any])

#: The distribution named for models registered in a script or notebook.
LOCAL = "local"
#: The namespace of a bare name given to ``register_model`` outside a plugin module.
LOCAL_NAMESPACE = "local"

#: Registrations made outside a plugin module, by kind and name: (namespace, distribution, spec),
#: applied again on every load.
_ADDED: dict[str, tuple[str, str, ModelSpec | DatasetSpec]] = {}
#: Every such registration in order (the registry applies those it has not seen).
_CHANGES: list[str] = []
#: The module plugins being imported (decorated builders in them are their models), innermost last.
_IMPORTING: list[Any] = []
#: Models decorated while a module plugin was imported, by module: added on every load of it.
_MODULE_MODELS: dict[str, list[ModelSpec]] = {}


def namespace_of(module_name: str) -> str:
    """A module plugin's namespace: its last dotted part (``mypkg.nets`` -> ``nets``)."""
    return module_name.rsplit(".", 1)[-1]


def load_modules(loader: Any, make_info: Callable[..., Any], describe: Callable[[BaseException], str]) -> None:
    """Import each ZOO_PLUGINS module as a plugin: hooks registered, decorated models kept for it.

    ``loader`` is the registry's loader, ``make_info`` its ``PluginInfo`` and ``describe``
    its one-line cause of an exception: a broken module is reported as an entry point is.
    """
    from zoo.plugins.loadcode import plugin_code

    for name in env.plugin_modules():
        info = make_info(namespace_of(name), name, "module", name)
        _IMPORTING.append(info)
        try:
            with plugin_code(f"plugin module {name!r}", "import"):
                module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing = exc.name == name or (exc.name is not None and name.startswith(exc.name + "."))
            info.fail(f"no module named {name!r} can be imported" if missing else f"import failed: {describe(exc)}")
            loader.registry.plugins.append(info)
            continue
        except BaseException as exc:  # a plugin must never take zoo down
            info.fail(f"import failed: {describe(exc)}")
            loader.registry.plugins.append(info)
            continue
        finally:
            _IMPORTING.pop()
        info.version = str(getattr(module, "__version__", "module"))
        loader._register_module(info, module)


def add_module_models(loader: Any, describe: Callable[[BaseException], str]) -> None:
    """Add the models decorated in each loaded module plugin, attributed to it."""
    for info in list(loader.registry.plugins):
        for spec in _MODULE_MODELS.get(info.module, []) if info.status == "ok" else []:
            try:
                loader._add_model(info, spec)
            except (TypeError, ValueError) as exc:
                info.fail(f"register_model {spec.name!r}: {describe(exc)}")
                loader._forget(info)


def add_registered(loader: Any, make_info: Callable[..., Any]) -> None:
    """Add the models and datasets registered from Python (a script, ``zoo.fit``); the same name replaces."""
    for namespace, distribution, item in _ADDED.values():
        plugins = loader.registry.plugins
        found = next((p for p in plugins if p.name == namespace and p.distribution == distribution), None)
        if found is None:
            found = make_info(namespace, distribution, __version__, "__main__")
            plugins.append(found)
        _add(loader, found, item)


def changes() -> int:
    """How many registrations were made from Python so far: the registry applies new ones when asked."""
    return len(_CHANGES)


def _add(loader: Any, info: Any, item: ModelSpec | DatasetSpec) -> None:
    """Add one local registration; the same name from the same source replaces the earlier one."""
    full = f"{info.name}.{item.name}"
    known: dict[str, Any] = loader.registry.models if isinstance(item, ModelSpec) else loader.registry.datasets
    if full in known and known[full].distribution == info.distribution:
        del known[full]
    if isinstance(item, ModelSpec):
        loader._add_model(info, item)
    else:
        loader._add_dataset(info, item)


def add_local(namespace: str, distribution: str, item: ModelSpec | DatasetSpec) -> None:
    """Register a model or dataset from Python, now and on every later reload of the registry."""
    _ADDED[f"{type(item).__name__} {namespace}.{item.name}"] = (namespace, distribution, item)
    _CHANGES.append(f"{namespace}.{item.name}")


def register_model(
    name: str,
    *,
    task: str,
    dataset: str,
    summary: str = "",
    config: Mapping[str, Any] | None = None,
    recipe: Mapping[str, Any] | None = None,
    examples: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Register the decorated builder as model ``name`` (``ns.model``, or a bare name).

    Inside a module loaded with ``--plugin`` a bare name takes the module's namespace;
    in a script it takes ``local``. ``config`` defaults to the builder's keyword defaults,
    ``recipe`` holds hyperparameters over the shared defaults (``{"epochs": 5, "lr": 0.1}``).
    """

    def decorate(builder: F) -> F:
        namespace, _, short = name.rpartition(".")
        if "." in namespace:
            raise ValueError(f"model name {name!r} must be NAME or NAMESPACE.NAME")
        doc = (inspect.getdoc(builder) or "").strip().splitlines()
        spec = ModelSpec(
            name=short,
            summary=summary or (doc[0] if doc else f"{builder.__name__} from {builder.__module__}"),
            task=task,
            builder=builder,
            dataset=dataset,
            recipes=(Recipe("default", "the settings given to register_model", dict(recipe or {})),),
            config=dict(config) if config is not None else builder_defaults(builder),
            examples=tuple(examples),
        )
        spec.validate()
        if _IMPORTING:
            owner = _IMPORTING[-1]
            _MODULE_MODELS.setdefault(owner.module, []).append(_in(spec, namespace, owner) if namespace else spec)
        else:
            add_local(namespace or LOCAL_NAMESPACE, LOCAL, spec)
        return builder

    return decorate


def _in(spec: ModelSpec, namespace: str, info: Any) -> ModelSpec:
    if namespace != info.name:
        raise ValueError(f"model {namespace}.{spec.name!r} is outside this module's namespace {info.name!r}")
    return spec


def builder_defaults(builder: Callable[..., Any]) -> dict[str, Any]:
    """The builder's keyword arguments with JSON defaults: the config a checkpoint records."""
    config: dict[str, Any] = {}
    for parameter in inspect.signature(builder).parameters.values():
        if parameter.default is inspect.Parameter.empty:
            continue
        try:
            json.dumps(parameter.default, allow_nan=False)
        except (TypeError, ValueError):
            continue
        config[parameter.name] = parameter.default
    return config


# -- models from the user's own code: zoo.fit and zoo.save(builder=) ---------------------

#: The namespace and the distribution named in checkpoints of modules from ``zoo.fit`` or
#: ``zoo.save(builder=)``: no installed plugin rebuilds them, their recorded builder does.
FIT = "fit"
FIT_DISTRIBUTION = "zoo.fit"
#: Top-level packages a recorded builder may never come from: what a file could abuse to run commands.
_NOT_BUILDERS = frozenset({"__main__", "builtins", "zoo", "pip", "setuptools", "pytest", "_pytest", "IPython"})


@dataclass(frozen=True)
class GivenModule:
    """The builder of a ``zoo.fit`` run: the module itself, and the importable builder recorded for it."""

    module: Any
    builder_ref: str | None = None

    def __call__(self, **config: Any) -> Any:
        return self.module


def builder_ref(spec: ModelSpec) -> str | None:
    """The importable builder a checkpoint of ``spec`` records (only models from the user's own code)."""
    if spec.distribution != FIT_DISTRIBUTION:
        return None
    ref = spec.builder if isinstance(spec.builder, str) else getattr(spec.builder, "builder_ref", None)
    return ref if isinstance(ref, str) else None


def check_builder_ref(ref: Any, where: str) -> str:
    """A ``package.module:function`` that may be imported to rebuild a model; a UsageError otherwise.

    The reference may come from a file, so it must name a module outside the standard library
    and the tools (never ``subprocess:run``); the builder's result is checked to be a module.
    """
    if not isinstance(ref, str) or check_ref_error(ref):
        raise UsageError(f"{where}: the builder {ref!r} is not of the form 'package.module:function'")
    top = ref.partition(":")[0].split(".", 1)[0]
    if top in sys.stdlib_module_names or top in _NOT_BUILDERS:
        raise UsageError(
            f"{where}: the builder {ref!r} is in {top!r}, which never builds a model for zoo",
            hint="name a function of your own package that returns the nn.Module",
        )
    return ref


def trusted_builder(ref: str) -> Callable[..., Any]:
    """The builder a file names, if it can only build a model: an ``nn.Module`` class, or a
    Python function defined in the module named (not a re-exported tool); a UsageError otherwise."""
    from torch import nn

    found = resolve(ref)
    module = ref.partition(":")[0]
    if isinstance(found, type) and issubclass(found, nn.Module):
        return found
    if inspect.isfunction(found) and found.__module__ == module:
        return found
    raise UsageError(
        f"the builder {ref!r} is not a function defined in {module!r} nor an nn.Module class",
        hint="record the function of your own package that builds the module",
    )


def check_ref_error(ref: str) -> str | None:
    try:
        check_ref(ref, "builder")
    except ValueError as exc:
        return str(exc)
    return None


def rebuilt_spec(meta: dict[str, Any], path: Any) -> ModelSpec | None:
    """The spec of a checkpoint from the user's own code, rebuilt from its recorded builder.

    None for checkpoints of other plugins and for those without a builder (``check_rebuildable``).
    """
    ref = meta.get("builder")
    if meta.get("plugin") != FIT_DISTRIBUTION or ref is None:
        return None
    try:
        builder = trusted_builder(check_builder_ref(ref, "the checkpoint"))
    except UsageError as exc:
        raise CheckpointError(path, exc.message) from None
    namespace, _, name = str(meta["model"]).partition(".")
    return ModelSpec(
        name=name or namespace,
        summary=f"rebuilt by {ref}",
        task=str(meta.get("task", "")),
        builder=builder,
        dataset="",
        recipes=(Recipe("default", "the recipe it was trained with", {}),),
        config=dict(meta.get("config") or {}),
        namespace=FIT,
        distribution=FIT_DISTRIBUTION,
        version=str(meta.get("plugin_version", "")),
    )


def check_rebuildable(meta: dict[str, Any], path: Any) -> None:
    """A CheckpointError saying how to make it usable, for a ``zoo.fit`` module saved without a builder."""
    if meta.get("plugin") == FIT_DISTRIBUTION and meta.get("builder") is None:
        raise CheckpointError(
            path,
            f"holds a {meta['model']} module trained with zoo.fit without a builder, so nothing can rebuild it",
            hint="in Python: zoo.load(path, module=net) with a module of the same class; or train (or zoo.save) "
            "with builder='package.module:function' naming an importable function that returns it",
        )
