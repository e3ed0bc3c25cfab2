"""``zoo tune``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from zoo.cli.app import EXTRA_ARGS, app, complete_model, err, load_registry, out, print_json, print_table, safe
from zoo.errors import UsageError

TUNE_EPILOG = (
    "Any zoo train option is fixed for every trial (--epochs 5, --data FILE, --device cuda) and left out of the "
    "recipe's search space. "
    "Examples: zoo tune tabular.diabetes --trials 30 --space lr=1e-3..1e-1:log --space batch_size=16..128; "
    "zoo tune vision.cnn --trials 40 --storage postgresql://user@host/db --study cnn-cpu (the same "
    "command on every machine joins one study)."
)
#: zoo train's own keywords (not overrides), typed by these defaults when given as --KEY VALUE.
TRAIN_KEYWORDS: dict[str, Any] = {
    "seed": 0,
    "device": "auto",
    "data_dir": "",
    "precision": "fp32",
    "deterministic": False,
    "download": True,
    "weights": "",
    "save_every": 0,
    "early_stop": 0,
    "threads": 1,
    "log_every": 1,
}
#: zoo train options that make no sense for a study.
REFUSED = ("resume", "folds", "config", "print_config", "json", "quiet")


@app.command("tune", context_settings=EXTRA_ARGS, epilog=TUNE_EPILOG)
def tune_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Model to tune.", autocompletion=complete_model),
    trials: int = typer.Option(20, "--trials", metavar="N", help="Stop when the study has N finished trials."),
    timeout: Optional[float] = typer.Option(
        None, "--timeout", metavar="SECONDS", help="Start no trial after this long (the running one finishes)."
    ),
    space: list[str] = typer.Option(
        [],
        "--space",
        metavar="KEY=SPEC",
        help="Searched option: LOW..HIGH, LOW..HIGH:log or A,B,C (default: the recipe's space, see zoo info).",
    ),
    metric: Optional[str] = typer.Option(
        None, "--metric", metavar="M", help="Metric to optimize (default: the recipe's target, else the main one)."
    ),
    direction: Optional[str] = typer.Option(
        None, "--direction", metavar="maximize|minimize", help="Default: the metric's."
    ),
    sampler: str = typer.Option("tpe", "--sampler", metavar="tpe|random|grid", help="Optuna sampler."),
    sampler_seed: Optional[int] = typer.Option(
        None,
        "--sampler-seed",
        metavar="N",
        help="Seed the sampler: a repeatable study with one worker; worker i of --workers uses N+i "
        "(give each machine joining a study its own N).",
    ),
    pruner: str = typer.Option(
        "median",
        "--pruner",
        metavar="median|hyperband|none",
        help="Stops hopeless trials (median: below the finished trials' median at the same share of the "
        "schedule, past 30 % of it and after 3 finished trials).",
    ),
    workers: int = typer.Option(1, "--workers", metavar="N", help="Processes on this machine sharing the study."),
    storage: Optional[str] = typer.Option(
        None,
        "--storage",
        metavar="URL",
        help="sqlite:///FILE or postgresql://... to share the study (default: a journal file in DIR).",
    ),
    study: Optional[str] = typer.Option(None, "--study", metavar="S", help="Study name (default: the model's)."),
    out_dir: Optional[Path] = typer.Option(
        None, "--out", metavar="DIR", help="Folder of the trials (default runs/<model>/tune-<study>)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary and nothing else on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final table."),
) -> None:
    """Search hyperparameters with Optuna; every trial is a real run in DIR/trial-NNNN, the best linked as DIR/best.

    A line per finished trial goes to stderr; the table of trials and the best one to stdout."""
    from zoo.contracts.options import coerce, parse_extra_args
    from zoo.tuning.study import tune

    load_registry(warn=False).model(name)  # an unknown model fails before Optuna or torch load
    options = parse_extra_args(list(ctx.args))
    for key in REFUSED:
        if key in options:
            raise UsageError(f"--{key.replace('_', '-')} cannot be used with zoo tune", hint="see zoo tune --help")
    for key, default in TRAIN_KEYWORDS.items():
        if key in options:
            options[key] = coerce(key, options[key], default)
    if "weights" in options:
        from zoo.training.plan import weights_ref

        options["weights"] = weights_ref(name, options["weights"])
    summary = tune(
        name,
        space=space or None,
        trials=trials,
        timeout=timeout,
        metric=metric,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        storage=storage,
        study=study,
        out=out_dir,
        sampler_seed=sampler_seed,
        workers=workers,
        say=None if quiet else (lambda line: err.print(safe(line))),
        **options,
    )
    if as_json:
        print_json({k: summary[k] for k in ("study", "storage", "best", "trials", "out")})
        return
    _print_result(summary)


def _print_result(summary: dict[str, Any]) -> None:
    from zoo.errors import TrainingError
    from zoo.tuning.report import TRIALS_CSV

    table = summary["table"]
    sys.stdout.flush()
    print_table(table["columns"], table["rows"], whole=("trial",))
    csv = Path(summary["out"]) / TRIALS_CSV
    if table["more"]:
        out.print(safe(f"({table['more']} more in {csv})"))
    counts = summary["trials"]
    tally = f"{counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed"
    best = summary["best"]
    if best is None:
        raise TrainingError(f"no trial completed ({tally})", hint=f"each trial's error is in {csv}")
    out.print(safe(f"best {summary['metric']} {best['value']:.6g} in trial {best['trial']} ({tally}): {best['run']}"))
