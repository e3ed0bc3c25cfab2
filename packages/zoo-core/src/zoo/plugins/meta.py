"""Plugin code that reads a checkpoint's metadata: every failure but a ZooError names the file.

A plugin's adapter interprets ``data_meta`` (labels, statistics, sizes) as it likes, so a
damaged or crafted field fails inside plugin code with whatever exception that code
raises. Loading, predict, export and serve all hand metadata to plugins through here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from zoo.errors import CheckpointError, ZooError

if TYPE_CHECKING:
    from zoo.contracts.spec import ModelSpec

T = TypeVar("T")


def plugin_call(path: str | Path, spec: ModelSpec, what: str, call: Callable[[], T]) -> T:
    """Run plugin code on a checkpoint's metadata; any failure but a ZooError is one CheckpointError."""
    try:
        return call()
    except ZooError:
        raise
    except Exception as exc:  # plugin code: any exception type is possible
        text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            path,
            f"{spec.full_name}'s plugin failed on this checkpoint ({what}: {text[:200]})",
            hint="its data_meta is damaged or was not written by zoo; use a checkpoint zoo wrote",
        ) from None


def check_plugin_metadata(spec: ModelSpec, meta: dict[str, Any], path: Path) -> None:
    """Let the plugin read the checkpoint's ``data_meta`` once at load, so damage is found up front.

    ``input_form`` and ``preprocessing`` read every field a plugin needs and allocate
    nothing. A plugin that refuses a hook with its own usage error (it serves no form,
    say) is left to say so where the hook is used.
    """
    from zoo.contracts.adapter import adapter_for

    try:
        adapter = adapter_for(spec)
    except ZooError:
        return  # a broken adapter is reported where it is used
    data_meta = dict(meta.get("data_meta", {}))
    for name, hook in (("input_form", adapter.input_form), ("preprocessing", adapter.preprocessing)):
        try:
            plugin_call(path, spec, name, lambda hook=hook: hook(data_meta))  # type: ignore[misc]
        except CheckpointError:
            raise
        except ZooError:
            continue
