"""``zoo.tune``: an Optuna study whose every trial is a real run, made by ``zoo.training.trainer.train``.

Each process that runs the same command against one storage and study name joins the
study; together they stop when it holds ``trials`` finished (complete or pruned) trials.
A trial is a run folder ``DIR/trial-0007`` with its own config, checkpoints and metrics.
Here: the checks before any trial, the study itself, and the files at the end; the
trials are ``trials.TrialRunner``'s.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.tuning import report
from zoo.tuning.objective import chosen_metric, runs_take_metric
from zoo.tuning.opening import PRUNERS, SAMPLERS, check_study, open_study, prepare_folder
from zoo.tuning.space import Dimension, grid_space, parse_space
from zoo.tuning.trials import TrialRunner
from zoo.tuning.workers import run_workers

#: At most this many trials in one study.
MAX_TRIALS = 10_000
#: At most this many seconds for --timeout (30 days).
MAX_TIMEOUT_S = 30 * 24 * 3600
_STUDY_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
#: Metrics that are better lower when the direction is not given and the model's own main metric is another.


def default_folder(model: str, study: str) -> Path:
    return Path("runs") / model / f"tune-{study}"


def _plan(name: str, keywords: Mapping[str, Any]) -> Any:
    """The checked plan ``zoo.train(name, **keywords)`` would follow: no data, no folder, no process."""
    from zoo.training.plan import make_plan
    from zoo.training.runconfig import RunOptions

    options, overrides = RunOptions(quiet=True).with_keywords(dict(keywords))
    return make_plan(name, options, **overrides)


def _check_counts(trials: int, timeout: float | None) -> None:
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
        raise UsageError(f"--trials must be between 1 and {MAX_TRIALS}, got {trials!r}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout <= MAX_TIMEOUT_S):
        raise UsageError(f"--timeout must be above 0 and at most {MAX_TIMEOUT_S} seconds, got {timeout!r}")


def tune(
    name: str,
    *,
    space: Mapping[str, str | Sequence[Any]] | Sequence[str] | None = None,
    trials: int = 20,
    timeout: float | None = None,
    metric: str | None = None,
    direction: str | None = None,
    sampler: str = "tpe",
    pruner: str = "percentile",
    storage: str | None = None,
    study: str | None = None,
    out: str | Path | None = None,
    sampler_seed: int | None = None,
    workers: int = 1,
    say: Callable[[str], None] | None = None,
    _worker: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Run (or join) a study of ``name`` and return its summary: best value, params, run, trial counts.

    ``space`` maps keys to SPECs (``"1e-4..1e-1:log"``, ``"16..128"``, ``"sgd,adam"``) or lists
    of choices; without it, the recipe's own ``space``. ``options`` are ``zoo.train``'s
    keywords, fixed for every trial. ``workers`` > 1 runs that many processes here (see
    ``zoo.tuning.workers``). ``say`` receives one line per finished trial. Where the recipe takes
    a ``metric`` key, each trial's run takes the study's ``metric`` too.
    """
    workers = _checked_arguments(trials, timeout, workers, sampler, pruner, options)
    planning = {k: v for k, v in options.items() if k not in ("callbacks", "log_every", "threads")}
    base = _plan(name, planning)
    if runs_take_metric(base, metric, options):  # the trials' runs pick their best epoch by it too
        planning["metric"] = str(metric).removeprefix("val_").removeprefix("train_")
        base = _plan(name, planning)
    space, dims = _dimensions(name, base, space, planning, say)
    keys = [d.key for d in dims]
    key, maximize = chosen_metric(base, metric, direction)
    trials = min(trials, math.prod(len(v) for v in grid_space(dims).values())) if sampler == "grid" else trials
    study_name = _study_name(study, base.spec.full_name)
    folder = Path(out) if out is not None else default_folder(base.spec.full_name, study_name)
    prepare_folder(folder, study_name, storage)
    sampling, pruning = (sampler, dims, sampler_seed), (pruner, trials)
    the_study, where, sampler_seed = open_study(storage, folder, study_name, sampling, pruning, maximize, not _worker)
    check_study(the_study, base.spec.full_name, key, maximize, where)
    threads = options.pop("threads", None)
    try:
        if workers > 1:
            arguments = dict(
                name=name, space=space, trials=trials, timeout=timeout, metric=metric, direction=direction,
                sampler=sampler, pruner=pruner, storage=storage, study=study_name, out=str(folder),
                sampler_seed=sampler_seed, threads=threads, quiet=say is None, **options,
            )  # fmt: skip
            run_workers(workers, arguments, stdout=sys.stderr)
        else:
            fixed = {**options, "threads": threads, "metric": planning.get("metric")}
            _run_here(the_study, name, folder, dims, (key, maximize), (trials, timeout), fixed, say)
    finally:
        _write_files(the_study, folder, keys, maximize, draw=False)
    if not _worker:
        _write_files(the_study, folder, keys, maximize, draw=True)
    return report.summary(the_study, where, folder, key, maximize, keys)


def _run_here(
    study: Any,
    name: str,
    folder: Path,
    dims: list[Dimension],
    goal: tuple[str, bool],
    limits: tuple[int, float | None],
    fixed: dict[str, Any],
    say: Callable[[str], None] | None,
) -> None:
    """The trials of this process; ``fixed`` are every trial's run keywords (None: not given)."""
    key, maximize = goal
    fixed = {k: v for k, v in fixed.items() if v is not None}
    if "threads" in fixed:  # every trial's run, as zoo train --threads N
        fixed["threads"] = int(fixed["threads"])
    runner = TrialRunner(study, name, folder, dims, key, maximize, limits[0], fixed, say or (lambda _: None))
    runner.after_trial = lambda: _write_files(study, folder, [d.key for d in dims], maximize, draw=False)
    runner.run(limits[1])


def _checked_arguments(
    trials: int, timeout: float | None, workers: int, sampler: str, pruner: str, options: Mapping[str, Any]
) -> int:
    """The study's own arguments checked before any plan is made; the number of worker processes to run."""
    from zoo.tuning.workers import cap_workers, check_workers

    _check_counts(trials, timeout)
    for value, known, flag in ((sampler, SAMPLERS, "--sampler"), (pruner, PRUNERS, "--pruner")):
        if value not in known:
            raise UsageError(f"unknown {flag} {value!r}", hint="choose from " + ", ".join(known))
    if workers > 1 and options.get("callbacks"):
        raise UsageError("callbacks cannot travel to other processes: use workers=1 with callbacks")
    check_workers(workers)
    return cap_workers(workers)


def _dimensions(
    name: str, base: Any, space: Any, planning: dict[str, Any], say: Callable[[str], None] | None
) -> tuple[Any, list[Dimension]]:
    """The space searched (the one given, else the recipe's without the fixed keys) and its dimensions."""
    recipe = base.spec.recipe(base.recipe, device=base.device_kind)
    if space is None or len(space) == 0:
        space = _unfixed(dict(recipe.space), planning, say)
    if not space and recipe.space:
        raise UsageError(
            f"every key of {base.spec.full_name}'s search space ({', '.join(recipe.space)}) "
            "is fixed on the command line",
            hint="give a --space KEY=SPEC to search, or drop a fixed option",
        )
    if not space:
        raise UsageError(
            f"{base.spec.full_name} declares no search space and none was given",
            hint="give one or more --space KEY=SPEC, e.g. --space lr=1e-4..1e-1:log --space batch_size=16..128",
        )
    defaults: dict[str, Any] = {**base.spec.config, **base.data_options, **base.hparams.as_dict(), "recipe": ""}

    def check(key: str, value: Any) -> None:
        if key in planning:
            flag = f"--{key.replace('_', '-')}"
            raise UsageError(
                f"{flag} is fixed on the command line and searched too (--space {key}=...)",
                hint=f"drop {flag} {planning[key]} to search it, or drop --space {key}=... to fix it",
            )
        _plan(name, {**planning, key: value})

    return space, list(parse_space(space, defaults, check))


def _study_name(study: str | None, model: str) -> str:
    name = study or model
    if not _STUDY_NAME.fullmatch(name):
        raise UsageError(
            f"--study {name!r}: a study name is 1-100 letters, digits, '.', '_' or '-'", hint="e.g. --study cnn-cpu"
        )
    return name


def _unfixed(space: dict[str, Any], fixed: Mapping[str, Any], say: Callable[[str], None] | None) -> dict[str, Any]:
    """The recipe's space without the options fixed for every trial, with a line naming each one left out."""
    kept = {k: v for k, v in space.items() if k.replace("-", "_") not in fixed}
    for key in space.keys() - kept.keys():
        flag = f"--{key.replace('_', '-')}"
        line = f"{key} is not searched: {flag} {fixed[key.replace('-', '_')]} is fixed for every trial"
        (say or (lambda text: print(text, file=sys.stderr)))(line)
    return kept


def _write_files(study: Any, folder: Path, keys: Sequence[str], maximize: bool, draw: bool) -> None:
    from zoo import env

    trials = study.get_trials(deepcopy=False)
    report.write_trials_csv(folder, trials, keys)
    best = report.best_trial(trials, maximize)
    report.link_best(folder, best.user_attrs.get("run") if best is not None else None)
    if draw and not env.no_plots():
        report.draw_plots(folder, study)
