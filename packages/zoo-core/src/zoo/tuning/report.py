"""What a study leaves in its folder: ``trials.csv``, the ``best`` link, Optuna's plots, and the summary.

Everything here is read back from the study's storage, so any process that joined the
study writes the same files, and the last one to finish writes the final ones.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zoo.files.outpath import atomic_output, write_text_atomic

TRIALS_CSV = "trials.csv"
BEST_LINK = "best"
PLOTS = ("history.png", "importance.png")
#: States as the table, trials.csv and --json name them.
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
#: The user attribute that marks a trial started after the study already had its trials.
SURPLUS = "zoo_surplus"


def counted(trials: Sequence[Any]) -> list[Any]:
    """The study's trials without those started past its size (they ran nothing)."""
    return [t for t in trials if not t.user_attrs.get(SURPLUS)]


def state_of(trial: Any) -> str:
    return STATES.get(trial.state.name, trial.state.name.lower())


def seconds_of(trial: Any) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return round((trial.datetime_complete - trial.datetime_start).total_seconds(), 3)


def counts(trials: Sequence[Any]) -> dict[str, int]:
    found = {"complete": 0, "pruned": 0, "failed": 0}
    for trial in counted(trials):
        state = state_of(trial)
        if state in found:
            found[state] += 1
    return found


def best_trial(trials: Sequence[Any], maximize: bool) -> Any | None:
    done = [t for t in counted(trials) if t.state.name == "COMPLETE" and t.value is not None]
    if not done:
        return None
    return max(done, key=lambda t: t.value) if maximize else min(done, key=lambda t: t.value)


def write_trials_csv(folder: Path, trials: Sequence[Any], keys: Sequence[str]) -> Path:
    """number, state, value, one column per searched key, seconds, run, error; atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["number", "state", "value", *keys, "seconds", "run", "error"])
    for trial in sorted(counted(trials), key=lambda t: t.number):
        writer.writerow(
            [
                trial.number,
                state_of(trial),
                "" if trial.value is None else repr(trial.value),
                *("" if trial.params.get(k) is None else trial.params[k] for k in keys),
                "" if seconds_of(trial) is None else seconds_of(trial),
                trial.user_attrs.get("run", ""),
                trial.user_attrs.get("error", ""),
            ]
        )
    path = folder / TRIALS_CSV
    write_text_atomic(path, buffer.getvalue(), flag="--out")
    return path


def link_best(folder: Path, run: str | None) -> None:
    """``DIR/best`` -> the best trial's run folder (relative when it lies in DIR); replaced atomically."""
    if not run:
        return
    target = Path(run)
    name = target.name if target.parent.resolve() == folder.resolve() else str(target.resolve())
    link = folder / BEST_LINK
    if link.exists() and not link.is_symlink():
        return  # something the user put there: left alone
    temp = folder / f".{BEST_LINK}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    try:
        temp.symlink_to(name, target_is_directory=True)
        os.replace(temp, link)
    except OSError:  # a file system without symlinks: trials.csv still names the run
        with contextlib.suppress(OSError):
            temp.unlink()


def draw_plots(folder: Path, study: Any) -> list[Path]:
    """history.png and importance.png with Optuna's matplotlib plots; none without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as views
    except ImportError:
        return []
    import warnings

    drawn: list[Path] = []
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    plots: list[tuple[str, Callable[..., Any]]] = [("history.png", views.plot_optimization_history)]
    if len(complete) >= 2 and len({tuple(sorted(t.params.items())) for t in complete}) >= 2:
        plots.append(("importance.png", views.plot_param_importances))
    for name, plot in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = plot(study, target_name=str(study.user_attrs.get("metric") or "value"))
            figure: Any = axes.figure
            figure.tight_layout()
            with atomic_output(folder / name, suffix=".png", flag="--out") as temp:
                # "tight": the history plot's legend sits outside its axes.
                figure.savefig(temp, dpi=100, format="png", bbox_inches="tight")
            plt.close(figure)
            drawn.append(folder / name)
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # a space Optuna cannot draw (one value, no variance): the other files still say it
    return drawn


def summary(study: Any, storage: str, folder: Path, metric: str, maximize: bool, keys: Sequence[str]) -> dict[str, Any]:
    """What ``zoo tune --json`` prints and ``zoo.tune`` returns."""
    trials = study.get_trials(deepcopy=False)
    best = best_trial(trials, maximize)
    columns, rows, more = table(study, keys, maximize)
    return {
        "study": study.study_name,
        "storage": storage,
        "out": str(folder),
        "metric": metric,
        "direction": "maximize" if maximize else "minimize",
        "best": None
        if best is None
        else {
            "trial": best.number,
            "value": best.value,
            "params": {k: best.params[k] for k in keys if k in best.params} or dict(best.params),
            "run": best.user_attrs.get("run"),
        },
        "trials": counts(trials),
        "table": {"columns": columns, "rows": rows, "more": more},
    }


def table(study: Any, keys: Sequence[str], maximize: bool, limit: int = 20) -> tuple[list[str], list[list[Any]], int]:
    """The final table: the best ``limit`` finished trials first, then the rest left out (count)."""
    trials = [t for t in counted(study.get_trials(deepcopy=False)) if t.state.name != "WAITING"]
    sign = -1.0 if maximize else 1.0

    def order(t: Any) -> tuple[int, float, int]:
        done = t.state.name == "COMPLETE" and t.value is not None
        return (0 if done else 1, sign * t.value if done else 0.0, t.number)

    trials.sort(key=order)
    rows = [
        [
            t.number,
            state_of(t),
            "-" if t.value is None else f"{t.value:.6g}",
            *(_cell(t.params.get(k)) for k in keys),
            "-" if seconds_of(t) is None else f"{seconds_of(t):.1f}",
        ]
        for t in trials[:limit]
    ]
    return ["trial", "state", "value", *keys, "seconds"], rows, max(0, len(trials) - limit)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
