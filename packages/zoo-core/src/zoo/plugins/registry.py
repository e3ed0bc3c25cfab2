"""The registry: every model, dataset and device backend that loaded plugins offer.

Plugins are found through the ``zoo.plugins`` entry point group and driven by one
pluggy ``PluginManager("zoo")``. Each plugin is loaded and asked to register on its
own, so one that fails to import, has a hook with a wrong signature, or raises while
registering is recorded as broken and the rest keep working.

The registry is data (specs, backends, plugins and their conflicts); what a plugin
registers is checked in ``claims``, and models are built by ``factory``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from zoo import env
from zoo.contracts import hookspecs
from zoo.contracts.spec import DatasetSpec, ModelSpec
from zoo.errors import UnknownModelError, UsageError, ZooError, did_you_mean
from zoo.plugins import claims
from zoo.plugins import loadcode as plugincode
from zoo.plugins import local as localplugins
from zoo.plugins.loadcode import PluginExit, plugin_code

if TYPE_CHECKING:
    from zoo.backend import DeviceBackend

ENTRY_POINT_GROUP = "zoo.plugins"
CORE = "zoo-core"


@dataclass
class PluginInfo:
    """What ``zoo plugins`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    status: str = "ok"
    error: str | None = None
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    #: "model NAME" / "dataset NAME" this plugin claims together with another distribution.
    conflicts: list[str] = field(default_factory=list)

    def fail(self, error: str) -> None:
        self.status = "broken"
        self.error = error if self.error is None else f"{self.error}; {error}"


@dataclass
class Registry:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    devices: dict[str, DeviceBackend] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    #: Full model names claimed by more than one distribution, with the claimants.
    conflicts: dict[str, list[str]] = field(default_factory=dict)
    #: The same for datasets.
    dataset_conflicts: dict[str, list[str]] = field(default_factory=dict)

    @property
    def all_conflicts(self) -> list[tuple[str, str, list[str]]]:
        """Every conflict as (kind, full name, distributions): models first, then datasets."""
        return [("model", n, d) for n, d in self.conflicts.items()] + [
            ("dataset", n, d) for n, d in self.dataset_conflicts.items()
        ]

    @property
    def problems(self) -> list[str]:
        """One line per broken plugin or conflict, for warnings on stderr."""
        lines = [
            f"plugin {p.name!r} ({p.distribution} {p.version}) was skipped: {p.error}"
            for p in self.plugins
            if p.status != "ok"
        ]
        return lines + [
            f"{kind} {name!r} is registered by both {' and '.join(dists)}; it is unusable until one is removed"
            for kind, name, dists in self.all_conflicts
        ]

    def find(self, pattern: str | None = None, task: str | None = None, plugin: str | None = None) -> list[ModelSpec]:
        specs = sorted(self.models.values(), key=lambda s: s.full_name)
        if pattern:
            wildcard = any(ch in pattern for ch in "*?[")
            specs = [s for s in specs if fnmatch.fnmatchcase(s.full_name, pattern if wildcard else f"*{pattern}*")]
        if task:
            specs = [s for s in specs if s.task == task]
        if plugin:
            specs = [s for s in specs if plugin in (s.namespace, s.distribution)]
        return specs

    def model(self, name: str) -> ModelSpec:
        if name in self.models:
            return self.models[name]
        if name in self.conflicts:
            raise UsageError(
                f"model {name!r} is registered by both {' and '.join(self.conflicts[name])}",
                hint="uninstall one of them, or limit plugins with ZOO_LOAD_PLUGINS",
            )
        raise UnknownModelError(f"unknown model {name!r}", hint=_suggest(name, list(self.models)))

    def dataset(self, name: str) -> DatasetSpec:
        if name in self.datasets:
            return self.datasets[name]
        if name in self.dataset_conflicts:
            raise UsageError(
                f"dataset {name!r} is registered by both {' and '.join(self.dataset_conflicts[name])}",
                hint="uninstall one of them, or limit plugins with ZOO_LOAD_PLUGINS",
            )
        raise UsageError(f"unknown dataset {name!r}", hint=_suggest(name, list(self.datasets)))


#: First-party namespaces and the distribution that provides each, for names whose plugin is absent.
FIRST_PARTY = {"tabular": "zoo-tabular", "vision": "zoo-vision", "seq": "zoo-seq"}


def _suggest(name: str, known: list[str]) -> str:
    namespace = name.split(".", 1)[0] if "." in name else ""
    installed = {k.split(".", 1)[0] for k in known}
    if namespace in FIRST_PARTY and namespace not in installed:
        dist = FIRST_PARTY[namespace]
        return f"the {namespace!r} models come with {dist}, which is not installed (or not loaded): pip install {dist}"
    bare = [k for k in known if k.split(".", 1)[-1] == name]  # "cnn" for "vision.cnn"
    close = did_you_mean(name, known, most=3, cutoff=0.5) or did_you_mean(name, bare, most=len(bare) or 1, cutoff=0.0)
    if close:
        return close
    if not known:
        return "no models are installed; pip install a plugin such as zoo-tabular"
    return "run 'zoo list' to see the installed models"


def _one_line(exc: BaseException) -> str:
    """The error's cause in one line, with the place in the plugin's code it was raised."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<frozen")
        and f.filename not in (__file__, plugincode.__file__, contextlib.__file__)
    ]
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, PluginExit):
        return text + where
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


def _import_plugin(ep: metadata.EntryPoint, dist: str) -> Any:
    """Import one plugin under ``plugin_code``."""
    with plugin_code(f"plugin {ep.name!r} ({dist})", "import"):
        return ep.load()


class _Loader:
    """Builds a Registry from the entry points, one plugin at a time."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: dict[str, PluginInfo] = {}

    def load(self) -> Registry:
        from zoo.plugins import builtin as core_plugin
        from zoo.version import __version__

        core = PluginInfo("core", CORE, __version__, core_plugin.__name__)
        self._register_module(core, core_plugin)
        wanted = env.wanted_plugins()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if wanted is not None and ep.name not in wanted:
                continue
            dist = (ep.dist.name if ep.dist is not None else None) or "unknown"
            version = (ep.dist.version if ep.dist is not None else None) or "?"
            info = PluginInfo(ep.name, dist, version, ep.value)
            try:
                module = _import_plugin(ep, dist)
            except BaseException as exc:  # a plugin must never take zoo down: not by exit, not by interrupt
                info.fail(f"import failed: {_one_line(exc)}")
                self.registry.plugins.append(info)
                continue
            self._register_module(info, module)
        localplugins.load_modules(self, PluginInfo, _one_line)  # ZOO_PLUGINS / --plugin: isolated the same way
        for hook, add in (
            ("zoo_register_devices", self._add_device),
            ("zoo_register_datasets", self._add_dataset),
            ("zoo_register_models", self._add_model),
        ):
            self._call(hook, add)
        localplugins.add_module_models(self, _one_line)  # @zoo.register_model in those modules
        localplugins.add_registered(self, PluginInfo)  # ... in a script, and zoo.fit
        for name in self.registry.conflicts:
            self.registry.models.pop(name, None)
        for name in self.registry.dataset_conflicts:
            self.registry.datasets.pop(name, None)
        return self.registry

    def _register_module(self, info: PluginInfo, module: Any) -> None:
        self.registry.plugins.append(info)
        key = f"{info.name}@{info.distribution}"  # one namespace may span several distributions
        try:
            with plugin_code(f"plugin {info.name!r} ({info.distribution})", "registering its hooks"):
                self.pm.register(module, name=key)
        except pluggy.PluginValidationError as exc:
            info.fail(f"bad hook implementation: {exc}")
            return
        except BaseException as exc:  # a module object whose attributes run code
            info.fail(_one_line(exc))
            return
        self.infos[key] = info

    def _call(self, hook_name: str, add: Callable[[PluginInfo, Any], None]) -> None:
        caller = getattr(self.pm.hook, hook_name)
        # Registration order, core first, whatever ordering marks a plugin put on its hooks.
        order = list(self.infos)
        impls = sorted(
            caller.get_hookimpls(), key=lambda i: order.index(i.plugin_name) if i.plugin_name in order else 0
        )
        for impl in impls:
            info = self.infos.get(impl.plugin_name)
            if info is None or info.status != "ok":
                continue

            def register(item: Any, _info: PluginInfo = info) -> None:
                add(_info, item)

            try:
                with plugin_code(f"plugin {info.name!r} ({info.distribution})", hook_name):
                    impl.function(register=register)
            except BaseException as exc:
                info.fail(f"{hook_name} {'' if isinstance(exc, PluginExit) else 'raised '}{_one_line(exc)}")
                self._forget(info)

    # The registering itself (claims.py); plugins.local calls these for modules and scripts too.
    def _forget(self, info: PluginInfo) -> None:
        claims.forget(self.registry, info)

    def _add_model(self, info: PluginInfo, spec: Any) -> None:
        claims.add_model(self.registry, self.infos, info, spec)

    def _add_dataset(self, info: PluginInfo, spec: Any) -> None:
        claims.add_dataset(self.registry, self.infos, info, spec)

    def _add_device(self, info: PluginInfo, backend: Any) -> None:
        claims.add_device(self.registry, info, backend)


_REGISTRY: Registry | None = None
_APPLIED = 0  # how many of localplugins' registrations the registry holds


def get_registry(refresh: bool = False) -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY, _APPLIED
    if _REGISTRY is not None and not refresh and localplugins.changes() != _APPLIED:
        loader = _Loader()  # registrations made from Python since the registry was loaded
        loader.registry = _REGISTRY
        localplugins.add_registered(loader, PluginInfo)
        _APPLIED = localplugins.changes()
    if _REGISTRY is None or refresh:
        _APPLIED = localplugins.changes()
        _REGISTRY = _Loader().load()
        if env.strict_plugins() and _REGISTRY.problems:
            problems = _REGISTRY.problems
            _REGISTRY = None
            raise ZooError(
                "plugin problems (strict mode): " + "; ".join(problems),
                hint="unset ZOO_STRICT_PLUGINS / drop --strict-plugins to skip broken plugins",
            )
    return _REGISTRY


def warn_problems(registry: Registry) -> None:
    for line in registry.problems:
        print(f"warning: {line}", file=sys.stderr)
