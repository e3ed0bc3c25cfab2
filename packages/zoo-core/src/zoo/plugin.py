"""The plugin API: every name a zoo plugin may import, in one module.

A plugin imports from here and nowhere else in zoo (``docs/plugins.md`` is the contract;
``tests/test_structure.py`` holds the first-party plugins to it). Everything else in zoo
may move between releases; these names are kept, and a change to one is announced by a
deprecation warning for a minor release first.

Importing this module never imports torch, so a plugin's ``plugin.py`` registers its
models instantly: the names that need torch (adapters, data types, the checkpoint reader)
are looked up on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zoo.backend import DeviceBackend
from zoo.contracts.classes import class_names
from zoo.contracts.hookspecs import hookimpl
from zoo.contracts.metadata import MAX_FEATURES, MAX_LABELS, check_labels
from zoo.contracts.options import check_range
from zoo.contracts.spec import (
    TOP_CLASSES,
    DatasetSpec,
    ModelSpec,
    Option,
    Recipe,
    Weights,
    published_weights,
    resolve,
)
from zoo.contracts.tasks import TASKS, Task, is_better, lower_is_better, metric_mode
from zoo.env import offline
from zoo.errors import CheckpointError, DataError, NeedsDataError, UsageError, ZooError, did_you_mean
from zoo.files.readfile import (
    CHUNK,
    check_regular,
    gunzip_chunks,
    is_gzip,
    limit,
    open_regular,
    read_bytes,
    size_text,
    too_large,
)
from zoo.files.readfile import ENV as FILE_LIMIT_ENV

if TYPE_CHECKING:
    from zoo.contracts.adapter import (
        FitContext,
        ModelAdapter,
        Strategy,
        adapter_for,
        median_row,
        number_row,
        parse_numbers,
        standardization,
    )
    from zoo.contracts.data import Batch, DataBundle, DataRequest, LoaderSplit, TensorSplit
    from zoo.contracts.evalmode import evaluating, run_eval
    from zoo.contracts.pipeline import PredictInput
    from zoo.files.safefile import read_header
    from zoo.files.weights import sha256_of
    from zoo.testing import NOT_REGULAR_FILES, CheckResult, not_regular_file, run_cli

#: Names that import torch, and the module each comes from; resolved on first use.
_NEEDS_TORCH: dict[str, str] = {
    **dict.fromkeys(
        (
            "FitContext",
            "ModelAdapter",
            "Strategy",
            "adapter_for",
            "median_row",
            "number_row",
            "parse_numbers",
            "standardization",
        ),
        "zoo.contracts.adapter",
    ),
    **dict.fromkeys(("Batch", "DataBundle", "DataRequest", "LoaderSplit", "TensorSplit"), "zoo.contracts.data"),
    **dict.fromkeys(("evaluating", "run_eval"), "zoo.contracts.evalmode"),
    "PredictInput": "zoo.contracts.pipeline",
    "read_header": "zoo.files.safefile",
    "sha256_of": "zoo.files.weights",
}
#: The testing kit's helpers for a plugin's own tests, imported on first use like the names above.
_TESTING_KIT: dict[str, str] = dict.fromkeys(("NOT_REGULAR_FILES", "not_regular_file", "run_cli"), "zoo.testing")

__all__ = [
    "CHUNK",
    "FILE_LIMIT_ENV",
    "MAX_FEATURES",
    "MAX_LABELS",
    "NOT_REGULAR_FILES",
    "TASKS",
    "TOP_CLASSES",
    "Batch",
    "CheckpointError",
    "DataBundle",
    "DataError",
    "DataRequest",
    "DatasetSpec",
    "DeviceBackend",
    "FitContext",
    "LoaderSplit",
    "ModelAdapter",
    "ModelSpec",
    "NeedsDataError",
    "Option",
    "PredictInput",
    "Recipe",
    "Strategy",
    "Task",
    "TensorSplit",
    "UsageError",
    "Weights",
    "ZooError",
    "adapter_for",
    "assert_plugin_ok",
    "check_labels",
    "check_plugin",
    "check_range",
    "check_regular",
    "class_names",
    "did_you_mean",
    "evaluating",
    "gunzip_chunks",
    "hookimpl",
    "is_better",
    "is_gzip",
    "limit",
    "lower_is_better",
    "median_row",
    "metric_mode",
    "not_regular_file",
    "number_row",
    "offline",
    "open_regular",
    "parse_numbers",
    "published_weights",
    "read_bytes",
    "read_header",
    "refresh_registry",
    "resolve",
    "run_cli",
    "run_eval",
    "sha256_of",
    "size_text",
    "standardization",
    "too_large",
]


def __getattr__(name: str) -> Any:
    """The torch-bound names and the testing kit's helpers, imported when a plugin first asks for one."""
    module = _NEEDS_TORCH.get(name) or _TESTING_KIT.get(name)
    if module is None:
        raise AttributeError(f"module 'zoo.plugin' has no attribute {name!r} (the plugin API: docs/plugins.md)")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def assert_plugin_ok(plugin: str) -> None:
    """Run the conformance checks of ``zoo check PLUGIN`` and fail with every problem (the testing kit)."""
    from zoo.testing import assert_plugin_ok as check

    check(plugin)


def check_plugin(plugin: str) -> list[CheckResult]:
    """The conformance checks of ``zoo check PLUGIN``, one result (``ok``, ``message``) per check."""
    from zoo.testing import check_plugin as checks

    return checks(plugin)


def refresh_registry() -> None:
    """Load the plugins again, as a new process would (after a test changes ``ZOO_LOAD_PLUGINS``)."""
    from zoo.plugins.registry import get_registry

    get_registry(refresh=True)
