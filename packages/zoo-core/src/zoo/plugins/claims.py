"""What a plugin registers, checked and entered into the registry's tables.

Each name is qualified by the plugin's namespace; a full name two distributions claim
is recorded as a conflict (and becomes unusable) rather than silently overwritten; what
a plugin added before it failed is taken out again, so nothing half-made stays.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from zoo.contracts.spec import DatasetSpec, ModelSpec, check_ref

if TYPE_CHECKING:
    from zoo.plugins.registry import PluginInfo, Registry


def qualify(info: PluginInfo, name: str, kind: str) -> str:
    """``NAMESPACE.NAME`` for a short name (or one already in the plugin's namespace); core names stay bare."""
    if info.name == "core":
        return name
    prefix = info.name + "."
    if name.startswith(prefix):
        name = name[len(prefix) :]
    if not name or "." in name:
        raise ValueError(f"{kind} name {name!r} must be a short name inside namespace {info.name!r}")
    return prefix + name


def add_model(registry: Registry, infos: dict[str, PluginInfo], info: PluginInfo, spec: Any) -> None:
    """Enter one model spec, stamped with the plugin's namespace, distribution and version."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register() expects a ModelSpec, got {type(spec).__name__}")
    full = qualify(info, spec.name, "model")
    spec = replace(
        spec,
        name=full.split(".", 1)[-1],
        namespace=info.name,
        distribution=info.distribution,
        version=info.version,
    )
    spec.validate()
    info.models.append(full)
    claim(infos, info, "model", full, spec, registry.models, registry.conflicts)


def add_dataset(registry: Registry, infos: dict[str, PluginInfo], info: PluginInfo, spec: Any) -> None:
    """Enter one dataset spec after checking its loader and sample references."""
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"register() expects a DatasetSpec, got {type(spec).__name__}")
    full = qualify(info, spec.name, "dataset")
    check_ref(spec.loader, f"dataset {spec.name!r} loader")
    check_ref(spec.sample, f"dataset {spec.name!r} sample")
    spec = replace(spec, name=full.split(".", 1)[-1], namespace=info.name, distribution=info.distribution)
    info.datasets.append(full)
    claim(infos, info, "dataset", full, spec, registry.datasets, registry.dataset_conflicts)


def claim(
    infos: dict[str, PluginInfo], info: PluginInfo, kind: str, full: str, spec: Any, known: Any, conflicts: Any
) -> None:
    """Add ``spec`` under ``full``, or record that two distributions claim the name."""
    other = known.get(full)
    if full in conflicts:
        conflicts[full].append(info.distribution)
    elif other is not None:
        conflicts[full] = [other.distribution, info.distribution]
        owner = infos.get(f"{info.name}@{other.distribution}")
        if owner is not None:
            owner.conflicts.append(f"{kind} {full}")
    else:
        known[full] = spec
        return
    info.conflicts.append(f"{kind} {full}")


def add_device(registry: Registry, info: PluginInfo, backend: Any) -> None:
    """Enter one device backend; the first registration of a name keeps it (core's come first)."""
    from zoo.backend import DeviceBackend

    if not isinstance(backend, DeviceBackend):
        raise TypeError(f"register() expects a DeviceBackend, got {type(backend).__name__}")
    if backend.name in registry.devices:
        info.fail(f"device {backend.name!r} is already registered; this registration was ignored")
        return
    info.devices.append(backend.name)
    registry.devices[backend.name] = backend


def forget(registry: Registry, info: PluginInfo) -> None:
    """Drop whatever a plugin registered before it failed."""
    for name in info.models:
        if registry.models.get(name) and registry.models[name].distribution == info.distribution:
            del registry.models[name]
    for name in info.datasets:
        if registry.datasets.get(name) and registry.datasets[name].distribution == info.distribution:
            del registry.datasets[name]
    for name in info.devices:
        registry.devices.pop(name, None)
