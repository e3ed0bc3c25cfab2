"""Predicting with a loaded model: its declared options checked, then core's one path (``zoo.contracts.pipeline``).

Which options a model takes is the plugin's business (``ModelSpec.predict_options``);
core types every given value by its declared default (text from a command line, JSON
values from ``zoo serve``, keywords from Python), checks declared bounds and refuses
unknown names, so ``zoo predict``, ``LoadedModel.predict``, ``zoo serve`` and
``zoo check`` accept exactly the same options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from zoo.contracts.options import allowed, typed_options
from zoo.contracts.spec import ModelSpec
from zoo.plugins.meta import plugin_call

if TYPE_CHECKING:
    from zoo.use.loaded import LoadedModel


def run_predict(
    loaded: LoadedModel, inputs: Sequence[Any], options: Mapping[str, Any] | None = None, *, seed: int = 0
) -> list[dict[str, Any]]:
    """The adapter's predictions for ``inputs``, on the model's own device, with checked options."""
    from zoo.contracts.adapter import adapter_for

    chosen = typed_options(dict(options or {}), loaded.spec.predict_options)
    chosen["seed"] = seed
    adapter = adapter_for(loaded.spec)
    items = list(inputs)
    meta = loaded.data_meta
    device = loaded.device
    return plugin_call(
        loaded.path, loaded.spec, "predict", lambda: adapter.predict(loaded.model, items, meta, chosen, device)
    )


def options_help(spec: ModelSpec) -> str:
    """The model's predict options as help text."""
    if not spec.predict_options:
        return f"{spec.full_name} takes no predict options of its own."
    lines = [f"Options of {spec.full_name}:"]
    for o in spec.predict_options:
        bounds = f", {allowed(o.low, o.high)}" if o.low is not None or o.high is not None else ""
        lines.append(f"  {o.flag} {o.type_name.upper():<6} {o.help} (default: {o.default}{bounds})")
    return "\n".join(lines)
