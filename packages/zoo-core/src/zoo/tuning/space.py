"""Search spaces for ``zoo tune``: ``KEY=SPEC`` read, checked against the model, handed to Optuna.

A SPEC is ``LOW..HIGH`` (whole numbers when both ends are and the option takes them),
``LOW..HIGH:log`` or ``A,B,C``. KEY is anything ``zoo train`` takes as ``--KEY VALUE``.
Every end and every choice is checked by planning a run with it, so whatever ``zoo train``
would refuse (an unknown key, a learning rate of -1) is refused here, before any trial.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zoo.contracts.options import coerce
from zoo.errors import UsageError

#: At most this many searched keys: a larger space is a typo, and TPE learns nothing in it.
MAX_KEYS = 32
#: At most this many values in one ``A,B,C`` list.
MAX_CHOICES = 256
#: At most this many points in a grid (``--sampler grid``): the product of every key's values.
MAX_GRID = 10_000
#: At most this many characters in one ``KEY=SPEC``.
MAX_SPEC_CHARS = 4096

#: Keys that say where a run reads, writes or runs, or how it is driven: a trial takes them from
#: the command, once, and a search over them would only make trials collide or fail.
UNSEARCHABLE = frozenset(
    {
        "out", "resume", "weights", "data", "data_dir", "config", "print_config", "device", "quiet",
        "download", "threads", "storage", "study", "workers", "trials", "space", "model",
    }
)  # fmt: skip

_INT = re.compile(r"[+-]?\d+")
EXAMPLE = "--space lr=1e-4..1e-1:log --space batch_size=16..128 --space optimizer=sgd,adam"


@dataclass(frozen=True)
class Dimension:
    """One searched key: a range of whole or real numbers (optionally on a log scale), or a list."""

    key: str
    spec: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The trial's value for this key, drawn by the study's sampler."""
        if self.choices:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def grid(self) -> list[Any]:
        """Every value, for the grid sampler: lists and whole-number ranges only."""
        if self.choices:
            return list(self.choices)
        if self.integer and not self.log:
            count = int(self.high) - int(self.low) + 1
            if count > MAX_GRID:
                raise UsageError(
                    f"--space {self.key}={self.spec}: {count} values, more than a grid may hold ({MAX_GRID})"
                )
            return list(range(int(self.low), int(self.high) + 1))
        raise UsageError(
            f"--space {self.key}={self.spec}: the grid sampler needs a list A,B,C or a range of whole numbers",
            hint=f"list the values (--space {self.key}=A,B,C), or use --sampler tpe or random",
        )

    def probes(self) -> list[Any]:
        """The values that bound what a trial may get: both ends, or every choice."""
        if self.choices:
            return list(self.choices)
        kind: Callable[[float], Any] = int if self.integer else float
        return [kind(self.low), kind(self.high)]


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{where}: {text!r} is not a number", hint=f"a range is LOW..HIGH, e.g. {EXAMPLE}") from None
    if not math.isfinite(value):
        raise UsageError(f"{where}: the ends of a range must be finite numbers, got {text!r}")
    return value


def parse_dimension(key: str, spec: str, default: Any) -> Dimension:
    """One KEY and SPEC, typed by the option's declared ``default`` (None: text choices)."""
    where = f"--space {key}={spec}"
    if len(spec) > MAX_SPEC_CHARS:
        raise UsageError(f"--space {key}=...: longer than {MAX_SPEC_CHARS} characters")
    if isinstance(default, (list, tuple, dict)):
        raise UsageError(f"{where}: --{key.replace('_', '-')} takes a list; it cannot be searched")
    body, log = (spec[:-4], True) if spec.endswith(":log") else (spec, False)
    if ".." in body:
        low_text, _, high_text = body.partition("..")
        low, high = _number(low_text.strip(), where), _number(high_text.strip(), where)
        if isinstance(default, (bool, str)) or default is None:
            kind = "true/false" if isinstance(default, bool) else "text"
            raise UsageError(
                f"{where}: --{key.replace('_', '-')} takes {kind}, not a number",
                hint=f"list the values: --space {key}=A,B",
            )
        whole = bool(_INT.fullmatch(low_text.strip()) and _INT.fullmatch(high_text.strip()))
        if isinstance(default, int) and not whole:
            raise UsageError(
                f"{where}: --{key.replace('_', '-')} takes whole numbers", hint=f"e.g. --space {key}=1..10"
            )
        if not low < high:
            raise UsageError(f"{where}: LOW must be below HIGH", hint=f"e.g. --space {key}={high_text}..{low_text}")
        if log and low <= 0:
            raise UsageError(f"{where}: a log range needs LOW above 0", hint="drop :log, or raise LOW")
        return Dimension(key, spec, low, high, log=log, integer=whole and not isinstance(default, float))
    if log:
        raise UsageError(f"{where}: :log belongs to a range LOW..HIGH:log")
    items = [item.strip() for item in body.split(",")]
    if len(items) < 2 or not all(items):
        raise UsageError(
            f"{where}: not a range LOW..HIGH or a list A,B,C",
            hint=f"a single value is not a search: pass it as --{key.replace('_', '-')} VALUE; e.g. {EXAMPLE}",
        )
    if len(items) > MAX_CHOICES:
        raise UsageError(f"{where}: {len(items)} values, more than {MAX_CHOICES}")
    try:
        values = tuple(coerce(key, item, default) for item in items)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=exc.hint) from None
    if len(set(values)) != len(values):
        raise UsageError(f"{where}: a value is listed twice")
    return Dimension(key, spec, choices=values)


def parse_space(
    items: Mapping[str, str | Sequence[Any]] | Sequence[str],
    defaults: Mapping[str, Any],
    check: Callable[[str, Any], None] | None = None,
) -> list[Dimension]:
    """``["lr=1e-4..1e-1:log", ...]`` or ``{"lr": "1e-4..1e-1:log", "optimizer": ["sgd", "adam"]}`` -> dimensions.

    ``defaults`` types each key (what the model declares); ``check(key, value)`` plans a run
    with one value and raises the planner's UsageError, which is reworded to name the SPEC.
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(items, Mapping):
        for key, value in items.items():
            spec = value if isinstance(value, str) else ",".join(str(v) for v in value)
            pairs.append((str(key), spec))
    else:
        for item in items:
            key, eq, spec = item.partition("=")
            if not eq or not key.strip():
                raise UsageError(f"--space {item!r}: expected KEY=SPEC", hint=f"e.g. {EXAMPLE}")
            pairs.append((key.strip(), spec.strip()))
    if len(pairs) > MAX_KEYS:
        raise UsageError(f"--space: {len(pairs)} keys, more than {MAX_KEYS}")
    dims: list[Dimension] = []
    seen: set[str] = set()
    for raw, spec in pairs:
        key = raw.removeprefix("--").replace("-", "_")
        if key in UNSEARCHABLE:
            flag = f"--{key.replace('_', '-')}"
            raise UsageError(
                f"--space {raw}=...: {flag} says where or how trials run, not how a model learns: not searchable",
                hint=f"give {flag} VALUE once, for every trial",
            )
        if key in seen:
            raise UsageError(f"--space {raw}: given twice")
        seen.add(key)
        if key not in defaults and check is not None:
            try:  # the planner names an unknown key and suggests the close ones
                check(key, spec)
            except UsageError as exc:
                raise UsageError(f"--space {raw}={spec}: {exc.message}", hint=exc.hint) from None
        dim = parse_dimension(key, spec, defaults.get(key))
        if check is not None:
            for value in dim.probes():
                try:
                    check(key, value)
                except UsageError as exc:
                    raise UsageError(f"--space {raw}={spec}: {exc.message}", hint=exc.hint) from None
        dims.append(dim)
    return dims


def resumed_seed(seed: int, earlier: int) -> int:
    """The sampler seed for a study that already holds ``earlier`` trials.

    A study resumed with its first ``--sampler-seed`` would draw trial 0's parameters again;
    mixing in the trial count keeps a rerun reproducible and its draws new. The mix is a hash
    (a string seed is SHA-512'd by ``random``), so it never lands on another worker's plain seed + i.
    """
    return random.Random(f"zoo-resume:{seed}:{earlier}").getrandbits(32) if earlier else seed


def grid_space(dims: Sequence[Dimension]) -> dict[str, list[Any]]:
    """The grid sampler's search space, bounded by ``MAX_GRID`` points."""
    grid = {d.key: d.grid() for d in dims}
    points = math.prod(len(v) for v in grid.values())
    if points > MAX_GRID:
        raise UsageError(
            f"--sampler grid: the space has {points} points, more than {MAX_GRID}", hint="use tpe or random"
        )
    return grid
