"""zoo-seq: the character RNNs of the notes (RNNCell, RNN, Embedding + RNN) as a zoo plugin.

Importing this package is cheap; ``zoo_seq.plugin`` registers the models without
importing torch, and the modules that need torch are loaded only to train or predict.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("zoo-seq")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"
