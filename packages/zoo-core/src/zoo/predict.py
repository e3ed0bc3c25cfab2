"""``zoo predict``: inputs and plugin-declared options in, the adapter's predictions out.

Which options a model takes is the plugin's business (``ModelSpec.predict_options``);
core reads them from the command line, types them by their declared defaults and
rejects unknown ones, so a mistyped option never becomes an input.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.options import coerce
from zoo.spec import ModelSpec, Option

#: Stand-in defaults that tell ``coerce`` how to read an option whose default is None.
_TYPED: dict[str, Any] = {"int": 0, "float": 0.0, "bool": False}


def split_args(args: list[str], options: tuple[Option, ...]) -> tuple[list[str], dict[str, Any]]:
    """Separate inputs from ``--name value`` options; ``-0.5`` stays an input."""
    declared = {o.name: o for o in options}
    inputs: list[str] = []
    given: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            inputs.extend(args[i + 1 :])
            break
        if not (token.startswith("--") and len(token) > 2 and token[2].isalpha()):
            inputs.append(token)
            i += 1
            continue
        key, eq, value = token[2:].partition("=")
        key = key.replace("-", "_")
        negated = key.startswith("no_") and key[3:] in declared and isinstance(declared[key[3:]].default, bool)
        if key not in declared and not negated:
            known = [o.flag for o in options]
            close = difflib.get_close_matches("--" + key.replace("_", "-"), known, n=2, cutoff=0.6)
            hint = (
                "did you mean " + " or ".join(close) + "?"
                if close
                else ("this model's options: " + ", ".join(known) if known else "this model takes no predict options")
            )
            raise UsageError(f"unknown option --{key.replace('_', '-')} for this model", hint=hint)
        option = declared[key[3:] if negated else key]
        if negated:
            given[option.name] = False
        elif isinstance(option.default, bool) and not eq:
            given[option.name] = True
        elif eq:
            given[option.name] = value
        elif i + 1 < len(args):
            given[option.name] = args[i + 1]
            i += 1
        else:
            raise UsageError(f"{option.flag} needs a value ({option.type_name})")
        i += 1
    return inputs, typed_options(given, options)


def typed_options(given: dict[str, Any], options: tuple[Option, ...]) -> dict[str, Any]:
    """Every declared option at its default, with the given ones read as their declared type."""
    result: dict[str, Any] = {o.name: o.default for o in options}
    for option in options:
        if option.name not in given:
            continue
        default = option.default
        if default is None and option.kind in _TYPED:
            default = _TYPED[option.kind]  # read the text as this type; None stays the default
        result[option.name] = coerce(option.name, given[option.name], default)
        check_range(option.flag, result[option.name], option.low, option.high)
    unknown = sorted(set(given) - set(result))
    if unknown:
        raise UsageError(f"unknown option --{unknown[0].replace('_', '-')} for this model")
    return result


def allowed(low: float | None, high: float | None) -> str:
    """A range in words: ``1 to 10``, ``at least 1``, ``at most 2000``."""
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def check_range(flag: str, value: Any, low: float | None, high: float | None) -> None:
    """Refuse a number outside ``[low, high]`` with the range named; None is "not given".

    The one check behind declared bounds (``Option.low``/``high``): ``zoo predict`` and
    ``zoo serve`` (through the plugins' adapters) refuse the same values with this message.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if (low is not None and value < low) or (high is not None and value > high):
        raise UsageError(f"{flag} must be {allowed(low, high)}, got {value:g}")


def options_help(spec: ModelSpec) -> str:
    """The model's predict options as help text."""
    if not spec.predict_options:
        return f"{spec.full_name} takes no predict options of its own."
    lines = [f"Options of {spec.full_name}:"]
    for o in spec.predict_options:
        bounds = f", {allowed(o.low, o.high)}" if o.low is not None or o.high is not None else ""
        lines.append(f"  {o.flag} {o.type_name.upper():<6} {o.help} (default: {o.default}{bounds})")
    return "\n".join(lines)


def predict(ref: str | Path, args: list[str], seed: int = 0, device: str = "cpu") -> list[dict[str, Any]]:
    """Predictions for command-line inputs, read the way the model's plugin reads them."""
    from zoo.adapter import adapter_for
    from zoo.checkpoint import plugin_call
    from zoo.evaluate import torch_device
    from zoo.weights import open_weights

    where = torch_device(device)
    loaded = open_weights(ref, device=str(where))
    inputs, options = split_args(args, loaded.spec.predict_options)
    options["seed"] = seed
    adapter = adapter_for(loaded.spec)
    if not inputs and not any(v for k, v in options.items() if k != "seed" and isinstance(v, str) and v):
        raise UsageError("give at least one input", hint=_example(loaded.spec, ref))
    data_meta = dict(loaded.metadata.get("data_meta", {}))
    return plugin_call(
        loaded.path, loaded.spec, "predict", lambda: adapter.predict(loaded.model, inputs, data_meta, options, where)
    )


def _example(spec: ModelSpec, ref: str | Path) -> str:
    example = spec.examples[0] if spec.examples else "INPUT"
    return f"e.g. zoo predict {ref} {example}"
