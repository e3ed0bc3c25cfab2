"""Model-specific command-line options: ``--KEY VALUE`` pairs checked against what a model offers.

Recipes, datasets and builders each declare their keys with defaults; the default's
type says how to read the text, so plugins add options without touching the CLI.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from zoo.contracts.spec import Option
from zoo.errors import UsageError, did_you_mean

#: Integers beyond this are typos or attacks, never sizes or counts anyone means.
MAX_INT = 2**62

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_extra_args(args: Sequence[str]) -> dict[str, Any]:
    """``["--method", "gd", "--standardize", "--no-shuffle", "--k=v"]`` -> raw string values.

    A flag with no value is True, ``--no-KEY`` is False; types are settled later by
    ``coerce`` against the model's declared defaults.
    """
    return read_args(args)[1]


def read_args(args: Sequence[str], declared: Sequence[Option] | None = None) -> tuple[list[str], dict[str, Any]]:
    """Inputs and ``--KEY VALUE`` options of one command line; the one reader of model-specific arguments.

    Without ``declared`` (train, eval) every argument must be an option: ``--KEY`` takes the
    next argument unless that is an option too, and is True otherwise. With ``declared``
    (a model's predict options) an unknown option is refused, a flag never takes a value
    unless written ``--KEY=VALUE``, any other argument is an input (``-0.5`` is a number)
    and everything after ``--`` is an input.
    """
    options = {o.name: o for o in declared} if declared is not None else None
    inputs: list[str] = []
    given: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        is_option = token.startswith("--") and token != "--"
        if options is not None:
            if token == "--":
                inputs.extend(args[i + 1 :])
                break
            if not (is_option and token[2].isalpha()):
                inputs.append(token)
                i += 1
                continue
        elif not is_option:
            raise UsageError(f"unexpected argument {token!r}", hint="options look like --KEY VALUE; see zoo info NAME")
        key, eq, value = token[2:].partition("=")
        key = key.replace("-", "_")
        if not key:
            raise UsageError(f"empty option name in {token!r}")
        nxt = args[i + 1] if i + 1 < len(args) else None
        if options is None:
            if eq:
                given[key] = value
            elif nxt is not None and not nxt.startswith("--"):
                given[key], i = nxt, i + 1
            elif key.startswith("no_"):
                given[key[3:]] = False
            else:
                given[key] = True
            i += 1
            continue
        negated = key.startswith("no_") and key[3:] in options and isinstance(options[key[3:]].default, bool)
        if key not in options and not negated:
            raise UsageError(f"unknown option --{_dash(key)} for this model", hint=_option_hint(key, declared or ()))
        option = options[key[3:] if negated else key]
        if negated:
            given[option.name] = False
        elif eq:
            given[option.name] = value
        elif isinstance(option.default, bool):
            given[option.name] = True
        elif nxt is not None:
            given[option.name], i = nxt, i + 1
        else:
            raise UsageError(f"{option.flag} needs a value ({option.type_name})")
        i += 1
    return inputs, given


def _option_hint(key: str, declared: Sequence[Option]) -> str:
    known = [o.flag for o in declared]
    close = did_you_mean("--" + _dash(key), known, str)
    if close:
        return close
    return "this model's options: " + ", ".join(known) if known else "this model takes no predict options"


#: Stand-in defaults that tell ``coerce`` how to read an option whose default is None.
_TYPED: dict[str, Any] = {"int": 0, "float": 0.0, "bool": False}


def typed_options(given: Mapping[str, Any], declared: Sequence[Option]) -> dict[str, Any]:
    """Every declared option at its default, with the given ones read as their declared type.

    Values may be command-line text (read as ``--KEY VALUE`` is) or typed JSON/Python values
    (checked: a bool for a flag, a whole number for an int, a number for a float); declared
    bounds are enforced. An unknown name is refused with the model's options as the hint.
    """
    result: dict[str, Any] = {o.name: o.default for o in declared}
    unknown = sorted(set(given) - set(result))
    if unknown:
        raise UsageError(
            f"unknown option --{_dash(unknown[0])} for this model", hint=_option_hint(unknown[0], declared)
        )
    for option in declared:
        if option.name not in given:
            continue
        value = given[option.name]
        default = option.default
        if default is None and option.kind in _TYPED:
            default = _TYPED[option.kind]  # read the value as this type; None stays the default
        if value is None and option.default is None:
            result[option.name] = None
            continue
        result[option.name] = coerce(option.name, value, default)
        check_range(option.flag, result[option.name], option.low, option.high)
    return result


def allowed(low: float | None, high: float | None) -> str:
    """A range in words: ``1 to 10``, ``at least 1``, ``at most 2000``."""
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def check_range(flag: str, value: Any, low: float | None, high: float | None) -> None:
    """Refuse a number outside ``[low, high]`` with the range named; None is "not given".

    The one check behind declared bounds (``Option.low``/``high``): ``zoo predict``,
    ``LoadedModel.predict`` and ``zoo serve`` refuse the same values with this message.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if (low is not None and value < low) or (high is not None and value > high):
        raise UsageError(f"{flag} must be {allowed(low, high)}, got {value:g}")


class TypeMismatch(ValueError):
    """A typed value that does not fit its declared default; the caller says where it came from."""


def check_typed(value: Any, default: Any) -> Any:
    """A typed value (from JSON or Python) checked against the type of ``default``.

    The rules of ``--KEY VALUE``, for values that already have a type: whole numbers
    where the default is an int (never a float or a bool), true/false where it is a
    flag, finite numbers where it is a float, text where it is text, and lists whose
    items follow the default's first item. A default of None accepts any scalar.
    """
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeMismatch(f"must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeMismatch(f"must be a whole number, got {value!r}")
        if abs(value) > MAX_INT:
            raise TypeMismatch(f"must be at most {MAX_INT} in size, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeMismatch(f"must be a number, got {value!r}")
        try:
            real = float(value)
        except OverflowError:
            real = math.inf
        if not math.isfinite(real):
            raise TypeMismatch(f"must be a finite number, got {value!r}")
        return real
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeMismatch(f"must be text, got {value!r}")
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise TypeMismatch(f"must be a list, got {value!r}")
        item = default[0] if default else None
        try:
            items = [check_typed(v, item) for v in value]
        except TypeMismatch as exc:
            raise TypeMismatch(f"must be a list whose items each {exc}") from None
        return type(default)(items)
    if default is None and not (value is None or isinstance(value, (str, int, float, bool))):
        raise TypeMismatch(f"must be a single value, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeMismatch(f"must be a finite number, got {value!r}")
    return value


def coerce(key: str, value: Any, default: Any) -> Any:
    """Read ``value`` as the type of ``default``; strings from the CLI, typed values from Python."""
    if isinstance(default, str) and isinstance(value, bool):
        raise UsageError(f"--{_dash(key)} needs a value", hint=f"--{_dash(key)} TEXT")
    if not isinstance(value, str) or default is None or isinstance(default, str):
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UsageError(f"--{_dash(key)} is a flag (true/false), got {value!r}")
        try:
            return check_typed(value, default)
        except TypeMismatch as exc:
            raise UsageError(f"--{_dash(key)} {exc}") from None
    text = value.strip()
    try:
        if "_" in text:
            raise ValueError(text)  # int("4_0") is 40: never what a person meant
        if isinstance(default, bool):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if isinstance(default, int):
            number = int(text)
            if abs(number) > MAX_INT:
                raise UsageError(f"--{_dash(key)} must be at most {MAX_INT} in size, got {value!r}")
            return number
        if isinstance(default, float):
            real = float(text)
            if not math.isfinite(real):
                raise UsageError(f"--{_dash(key)} must be a finite number, got {value!r}")
            return real
        if isinstance(default, (list, tuple)):
            items = [p.strip() for p in text.split(",") if p.strip()]
            kind = type(default[0]) if default else str
            return type(default)(kind(p) for p in items)
    except ValueError:
        kind_name = type(default).__name__
        raise UsageError(f"--{_dash(key)} expects {kind_name}, got {value!r}") from None
    return value


def suggest(key: str, known: Iterable[str], spell: Callable[[str], str]) -> str:
    """The hint for an unknown key: the close matches, else every known one (spelt by ``spell``)."""
    names = sorted(known)
    close = did_you_mean(key, names, spell)
    if close:
        return close
    return ("known: " if names else "none is known") + ", ".join(spell(k) for k in names)


def split_overrides(overrides: Mapping[str, Any], groups: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sort user overrides into groups (hparams, data, config) by which declares the key."""
    sorted_: dict[str, dict[str, Any]] = {group: {} for group in groups}
    known = [k for declared in groups.values() for k in declared]
    for key, value in overrides.items():
        for group, declared in groups.items():
            if key in declared:
                sorted_[group][key] = coerce(key, value, declared[key])
                break
        else:
            hint = suggest(key, known, lambda k: "--" + _dash(k))
            if not hint.startswith("did you"):
                hint = hint.replace("known: ", "known options: ", 1)
            raise UsageError(f"unknown option --{_dash(key)} for this model", hint=hint)
    return sorted_


def _dash(key: str) -> str:
    return key.replace("_", "-")
