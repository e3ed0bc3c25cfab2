"""One setting of a run: its type, bounds or choices, help, and what each reader does with it.

``zoo.contracts.settings`` declares every run option and shared hyperparameter as a
``Setting``; ``Setting.check`` is the one range check, so a bound gives one message
whether the value came from the command line, ``zoo.train``, a recipe or a file. No torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from zoo.errors import UsageError

Kind = Literal["int", "float", "str", "bool", "path"]
#: run: a ``RunOptions`` field; recipe: picks the recipe; hparams: a key every recipe has;
#: cli: only the command line has it (``--folds``, ``--json``...).
Group = Literal["run", "recipe", "hparams", "cli"]
#: setting: config.json keeps it and ``--config`` reads it back; info: written, ignored when read.
Config = Literal["setting", "info", None]
#: keep: the run keeps its own and refuses another; change: may be given anew; refuse: not with --resume.
OnResume = Literal["keep", "change", "refuse"]
#: fixed: given to ``zoo tune``, fixed for every trial; refused: makes no sense in a study; None: tune's own.
Tune = Literal["fixed", "refused", None]


@dataclass(frozen=True)
class Setting:
    """One option of a run: how it is typed, bounded, shown and treated by each reader."""

    name: str
    kind: Kind
    help: str
    default: Any = None
    group: Group = "run"
    metavar: str | None = None
    low: float | None = None
    #: The low bound itself is refused (a learning rate above 0).
    above: bool = False
    high: float | None = None
    choices: tuple[str, ...] = ()
    #: Extra spellings on the command line (``-q``); a bool with ``negatable`` gets ``--no-NAME``.
    short: tuple[str, ...] = ()
    negatable: bool = False
    #: Commands that show it as an option of their own.
    commands: tuple[str, ...] = ("train",)
    config: Config = None
    on_resume: OnResume = "change"
    tune: Tune = "fixed"
    #: ``zoo.train`` and ``zoo.fit`` take it as a keyword.
    keyword: bool = True
    #: A checkpoint's metadata carries it (config.json does too, with ``config="setting"``).
    checkpoint: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this setting (typed already), or None."""
        if value is None or (self.kind in ("str", "path") and not self.choices):
            return None
        if self.choices:
            return None if value in self.choices else f"must be one of {', '.join(self.choices)}, got {value!r}"
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be {'a whole number' if self.kind == 'int' else 'a number'}, got {value!r}"
        if self.kind == "int" and not float(value).is_integer():
            return f"must be a whole number, got {value!r}"
        low, high = self.low, self.high
        outside = (low is not None and (value < low or (self.above and value <= low))) or (
            high is not None and value > high
        )
        if self.kind == "float" and (outside or not math.isfinite(value)):
            return f"must be a finite number {self.bounds()}, got {value!r}"
        return f"must be {self.bounds()}, got {value!r}" if outside else None

    def bounds(self) -> str:
        """The allowed range in words: ``between 1 and 1000000000``, ``above 0``, ``at least 0``."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            return f"between {low:g} and {high:g}" if self.kind == "float" else f"between {low} and {high}"
        if low is not None:
            return f"above {low:g}" if self.above else f"at least {low:g}"
        return f"at most {high:g}" if high is not None else "any value"

    def check(self, value: Any, where: str | None = None) -> Any:
        """``value`` when it fits, else a UsageError naming ``where`` (default: the flag)."""
        problem = self.problem(value)
        if problem is not None:
            raise UsageError(f"{where or self.flag} {problem}", hint=self.hint())
        return value

    def hint(self) -> str | None:
        return f"e.g. {self.flag} {self.default}" if self.default is not None and not self.choices else None
