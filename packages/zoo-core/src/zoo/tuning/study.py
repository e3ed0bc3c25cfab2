"""``zoo.tune``: an Optuna study whose every trial is a real run, made by ``zoo.training.trainer.train``.

Each process that runs the same command against one storage and study name joins the
study; together they stop when it holds ``trials`` finished (complete or pruned) trials.
A trial is a run folder ``DIR/trial-0007`` with its own config, checkpoints and metrics.
Here: the checks before any trial, the study itself, and the files at the end; the
trials are ``trials.TrialRunner``'s.
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.contracts.tasks import LOWER_IS_BETTER
from zoo.errors import UsageError
from zoo.tuning import report
from zoo.tuning.space import Dimension, grid_space, parse_space, resumed_seed
from zoo.tuning.storage import open_storage
from zoo.tuning.trials import TrialRunner

#: At most this many trials in one study.
MAX_TRIALS = 10_000
#: At most this many seconds for --timeout (30 days).
MAX_TIMEOUT_S = 30 * 24 * 3600
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
DIRECTIONS = ("maximize", "minimize")
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


def _metric(plan: Any, metric: str | None, direction: str | None) -> tuple[str, bool]:
    """(record key, maximize): the recipe target's metric, else the model's main validation metric."""
    from zoo.contracts.adapter import adapter_for

    main, mode = adapter_for(plan.spec).main_metric
    chosen = plan.hparams.extra.get("metric")  # a recipe's --metric: the trials' main metric too
    if metric is None and isinstance(chosen, str) and chosen:
        metric = chosen
    if metric is None:
        recipe = plan.spec.recipe(plan.recipe, device=plan.device_kind)
        metric = recipe.target[0] if recipe.target else main
    key = metric if metric.startswith(("val_", "train_")) else f"val_{metric}"
    if direction is None:
        bare = key.removeprefix("val_").removeprefix("train_")
        lower = mode == "min" if bare == main else bare.endswith(LOWER_IS_BETTER)
        direction = "minimize" if lower else "maximize"
    if direction not in DIRECTIONS:
        raise UsageError(f"unknown --direction {direction!r}", hint="maximize or minimize")
    return key, direction == "maximize"


def _sampler(name: str, dims: Sequence[Dimension], seed: int | None) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_space(dims), seed=seed)
    raise UsageError(f"unknown --sampler {name!r}", hint=", ".join(SAMPLERS))


def _pruner(name: str, trials: int) -> Any:
    import optuna

    if name == "median":
        from zoo.tuning.pruning import make_pruner

        # the median of finished trials at the same share of their schedules, after a warm-up
        return make_pruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UsageError(f"unknown --pruner {name!r}", hint=", ".join(PRUNERS))


def tune(
    name: str,
    *,
    space: Mapping[str, str | Sequence[Any]] | Sequence[str] | None = None,
    trials: int = 20,
    timeout: float | None = None,
    metric: str | None = None,
    direction: str | None = None,
    sampler: str = "tpe",
    pruner: str = "median",
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
    ``zoo.tuning.workers``). ``say`` receives one line per finished trial.
    """
    import optuna

    from zoo.tuning.workers import cap_workers, check_workers, run_workers

    _check_counts(trials, timeout)
    check_workers(workers)
    workers = cap_workers(workers)
    for value, known, flag in ((sampler, SAMPLERS, "--sampler"), (pruner, PRUNERS, "--pruner")):
        if value not in known:
            raise UsageError(f"unknown {flag} {value!r}", hint="choose from " + ", ".join(known))
    planning = {k: v for k, v in options.items() if k not in ("callbacks", "log_every", "threads")}
    if workers > 1 and options.get("callbacks"):
        raise UsageError("callbacks cannot travel to other processes: use workers=1 with callbacks")
    base = _plan(name, planning)
    recipe = base.spec.recipe(base.recipe, device=base.device_kind)
    own_space = space is not None and len(space) > 0
    if not own_space:
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

    dims = parse_space(space, defaults, check)
    keys = [d.key for d in dims]
    key, maximize = _metric(base, metric, direction)
    if sampler == "grid":
        trials = min(trials, math.prod(len(v) for v in grid_space(dims).values()))
    study_name = study or base.spec.full_name
    if not _STUDY_NAME.fullmatch(study_name):
        raise UsageError(
            f"--study {study_name!r}: a study name is 1-100 letters, digits, '.', '_' or '-'",
            hint="e.g. --study cnn-cpu",
        )
    folder = Path(out) if out is not None else default_folder(base.spec.full_name, study_name)
    _prepare_folder(folder, study_name, storage)
    opened, where = open_storage(storage, folder)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat, plots
    the_study = optuna.create_study(
        storage=opened,
        sampler=_sampler(sampler, dims, sampler_seed),
        pruner=_pruner(pruner, trials),
        study_name=study_name,
        direction="maximize" if maximize else "minimize",
        load_if_exists=True,
    )
    _check_study(the_study, base.spec.full_name, key, maximize, where)
    if sampler_seed is not None and not _worker and (earlier := len(the_study.get_trials(deepcopy=False))):
        sampler_seed = resumed_seed(sampler_seed, earlier)  # resumed: new draws (workers get it + i)
        the_study.sampler = _sampler(sampler, dims, sampler_seed)
    threads = options.pop("threads", None)

    def files() -> None:  # trials.csv and the best link, current after every trial
        _write_files(the_study, folder, keys, maximize, draw=False)

    if workers > 1:
        arguments = dict(
            name=name, space=space, trials=trials, timeout=timeout, metric=metric, direction=direction,
            sampler=sampler, pruner=pruner, storage=storage, study=study_name, out=str(folder),
            sampler_seed=sampler_seed, threads=threads, quiet=say is None, **options,
        )  # fmt: skip
        try:
            run_workers(workers, arguments, stdout=sys.stderr)
        finally:
            _write_files(the_study, folder, keys, maximize, draw=False)
    else:
        if threads is not None:  # every trial's run, as zoo train --threads N
            options["threads"] = int(threads)
        say = say or (lambda _: None)
        runner = TrialRunner(the_study, name, folder, dims, key, maximize, trials, options, say, after_trial=files)
        try:
            runner.run(timeout)
        finally:
            _write_files(the_study, folder, keys, maximize, draw=False)
    if not _worker:
        _write_files(the_study, folder, keys, maximize, draw=True)
    return report.summary(the_study, where, folder, key, maximize, keys)


def _unfixed(space: dict[str, Any], fixed: Mapping[str, Any], say: Callable[[str], None] | None) -> dict[str, Any]:
    """The recipe's space without the options fixed for every trial, with a line naming each one left out."""
    kept = {k: v for k, v in space.items() if k.replace("-", "_") not in fixed}
    for key in space.keys() - kept.keys():
        flag = f"--{key.replace('_', '-')}"
        line = f"{key} is not searched: {flag} {fixed[key.replace('-', '_')]} is fixed for every trial"
        (say or (lambda text: print(text, file=sys.stderr)))(line)
    return kept


def _prepare_folder(folder: Path, study: str, storage: str | None) -> None:
    """Make the tune folder; refuse one that holds another study's trials."""
    from zoo.files.readfile import read_json
    from zoo.tuning.storage import shown

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {folder}: cannot be made: {exc.strerror or exc}") from None
    marker = folder / "study.json"
    mine = {"study": study, "storage": shown(storage) if storage else None}
    if marker.is_file():
        theirs = read_json(marker, "the tune folder's study record")
        if isinstance(theirs, dict) and [theirs.get("study"), theirs.get("storage")] != list(mine.values()):
            where = theirs.get("storage") or "its journal"
            raise UsageError(
                f"--out {folder} holds the trials of study {theirs.get('study')!r} in {where}",
                hint="pick another --out, or give that --study and --storage to continue it",
            )
        return
    report.write_text_atomic(marker, json.dumps(mine, indent=2) + "\n", flag="--out")


def _check_study(study: Any, model: str, key: str, maximize: bool, where: str) -> None:
    """A study found in the storage must be of this model and metric; a new one is marked so."""
    attrs = study.user_attrs
    if attrs.get("model") is None:
        study.set_user_attr("model", model)
        study.set_user_attr("metric", key)
        return
    if attrs.get("model") != model:
        raise UsageError(
            f"study {study.study_name!r} in {where} tunes {attrs['model']}, not {model}", hint="give another --study"
        )
    if attrs.get("metric") != key:
        raise UsageError(
            f"study {study.study_name!r} in {where} measures {attrs['metric']}, not {key}",
            hint=f"--metric {attrs['metric']}, or give another --study",
        )
    if (study.direction.name == "MAXIMIZE") != maximize:
        raise UsageError(
            f"study {study.study_name!r} in {where} {study.direction.name.lower()}s {key}",
            hint=f"--direction {study.direction.name.lower()}, or give another --study",
        )


def _write_files(study: Any, folder: Path, keys: Sequence[str], maximize: bool, draw: bool) -> None:
    from zoo import env

    trials = study.get_trials(deepcopy=False)
    report.write_trials_csv(folder, trials, keys)
    best = report.best_trial(trials, maximize)
    report.link_best(folder, best.user_attrs.get("run") if best is not None else None)
    if draw and not env.no_plots():
        report.draw_plots(folder, study)
