"""zoo-tabular: the linear, affine, logistic and diabetes models of the classic notes.

Importing this package is cheap; torch is imported only by the modules that build,
load or train something (``models``, ``datasets``, ``strategies``, ``adapters``).
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("zoo-tabular")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
