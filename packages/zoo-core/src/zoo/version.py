"""The installed zoo-core version, in a module of its own so that any module can read it
without importing the package's ``__init__``."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("zoo-core")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"
