"""zoo-vision: the notes' MNIST models (a fully connected net and a small CNN), on MNIST or your pictures.

Importing this package is cheap; torch and torchvision are imported by the modules
that need them, when a model is built or data is loaded.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("zoo-vision")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
