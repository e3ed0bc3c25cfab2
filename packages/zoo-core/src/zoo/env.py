"""The environment variables zoo reads, parsed in one place.

Only the user's environment and command line decide where data lives and whether
the network may be used; nothing read from a checkpoint or run folder does.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def flag(name: str) -> bool:
    """A boolean variable: 1/true/yes/on (any case) is on, anything else off."""
    return os.environ.get(name, "").strip().lower() in _TRUE


def offline() -> bool:
    """ZOO_OFFLINE: never download anything."""
    return flag("ZOO_OFFLINE")


def strict_plugins() -> bool:
    """ZOO_STRICT_PLUGINS: a broken plugin is an error, not a warning."""
    return flag("ZOO_STRICT_PLUGINS")


def no_plots() -> bool:
    """ZOO_NO_PLOTS: training draws no curves.png (sweeps, CI); ``zoo plot`` still draws on demand."""
    return flag("ZOO_NO_PLOTS")


def wanted_plugins() -> set[str] | None:
    """ZOO_LOAD_PLUGINS as a set of names; None when unset (load everything), empty loads none."""
    value = os.environ.get("ZOO_LOAD_PLUGINS")
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def plugin_modules() -> list[str]:
    """ZOO_PLUGINS (and ``zoo --plugin``): importable modules loaded as plugins, in order, once each."""
    names = [part.strip() for part in os.environ.get("ZOO_PLUGINS", "").split(",") if part.strip()]
    return list(dict.fromkeys(names))


def data_dir(given: str | Path | None = None) -> Path:
    """Where data sets live: the given folder, else ZOO_DATA_DIR, else ~/.cache/zoo; always absolute."""
    if given is not None and str(given):
        return Path(given).expanduser().resolve()
    if os.environ.get("ZOO_DATA_DIR"):
        return Path(os.environ["ZOO_DATA_DIR"]).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache).resolve() / "zoo"


def may_download(asked: bool = True) -> bool:
    """Downloads happen only when the command allows them and ZOO_OFFLINE is not set."""
    return asked and not offline()
