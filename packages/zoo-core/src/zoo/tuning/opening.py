"""Opening a study: its folder, its storage, its sampler and pruner, and the checks that a joined study fits.

A study found in the storage must be of the same model, metric and direction; a tune
folder holds one study's trials. No trial runs here (``zoo.tuning.trials``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.tuning import report
from zoo.tuning.space import Dimension, grid_space, resumed_seed
from zoo.tuning.storage import open_storage

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("percentile", "median", "hyperband", "none")


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

    if name in ("percentile", "median"):
        from zoo.tuning.pruning import MEDIAN, make_pruner

        # finished trials compared at the same share of their schedules, after a warm-up
        return make_pruner() if name == "percentile" else make_pruner(stages=MEDIAN)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UsageError(f"unknown --pruner {name!r}", hint=", ".join(PRUNERS))


def open_study(
    storage: str | None,
    folder: Path,
    name: str,
    sampling: tuple[str, Any, int | None],
    pruning: tuple[str, int],
    maximize: bool,
    resumed: bool = True,
) -> tuple[Any, str, int | None]:
    """The Optuna study in ``storage`` (a journal in ``folder`` by default), made or joined; where it is;
    the sampler's seed.

    A seeded sampler of a study that already holds trials draws anew (``resumed_seed``), unless
    ``resumed`` is False (a worker process, whose seed its parent chose).
    """
    import optuna

    opened, where = open_storage(storage, folder)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat, plots
    the_study = optuna.create_study(
        storage=opened,
        sampler=_sampler(*sampling),
        pruner=_pruner(*pruning),
        study_name=name,
        direction="maximize" if maximize else "minimize",
        load_if_exists=True,
    )
    kind, dims, seed = sampling
    if seed is not None and resumed and (earlier := len(the_study.get_trials(deepcopy=False))):
        seed = resumed_seed(seed, earlier)  # resumed: new draws (workers get it + i)
        the_study.sampler = _sampler(kind, dims, seed)
    return the_study, where, seed


def prepare_folder(folder: Path, study: str, storage: str | None) -> None:
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


def check_study(study: Any, model: str, key: str, maximize: bool, where: str) -> None:
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
