"""``zoo tune``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from zoo.cli.app import EXTRA_ARGS, app, complete_model, err, load_registry, out, print_json, print_table, safe
from zoo.cli.common import with_settings
from zoo.contracts import settings
from zoo.contracts.setting import Setting
from zoo.errors import UsageError

TUNE_EPILOG = (
    "Any zoo train option is fixed for every trial (--epochs 5, --data FILE, --device cuda) and left out of the "
    "recipe's search space. "
    "Examples: zoo tune tabular.diabetes --trials 30 --space lr=1e-3..1e-1:log --space batch_size=16..128; "
    "zoo tune vision.cnn --trials 40 --storage postgresql://user@host/db --study cnn-cpu (the same "
    "command on every machine joins one study)."
)
#: zoo tune's own options (a study's, not a run's); the run settings are given as --KEY VALUE.
TUNE_OPTIONS = (
    Setting("trials", "int", "Stop when the study has N finished trials.", default=20, metavar="N"),
    Setting("timeout", "float", "Start no trial after this long (the running one finishes).", metavar="SECONDS"),
    Setting("metric", "str", "Metric to optimize, and the trials' own main metric where the recipe takes --metric "
            "(default: the recipe's target, else the main one).", metavar="M"),
    Setting("direction", "str", "Default: the metric's.", metavar="maximize|minimize"),
    Setting("sampler", "str", "Optuna sampler.", default="tpe", metavar="tpe|random|grid"),
    Setting("sampler_seed", "int", "Seed the sampler: a repeatable study with one worker; worker i of --workers "
            "uses N+i (give each machine joining a study its own N).", metavar="N"),
    Setting("pruner", "str", "Stops hopeless trials (percentile: past 30 % of its schedule and after 3 finished "
            "trials, one outside the best 40 % of them at the same share; median: below their median).",
            default="percentile", metavar="percentile|median|hyperband|none"),
    Setting("workers", "int", "Processes on this machine sharing the study.", default=1, metavar="N"),
    Setting("storage", "str", "sqlite:///FILE or postgresql://... to share the study (default: a journal file in "
            "DIR).", metavar="URL"),
    Setting("study", "str", "Study name (default: the model's).", metavar="S"),
    Setting("out", "path", "Folder of the trials (default runs/<model>/tune-<study>).", metavar="DIR"),
)  # fmt: skip


def fixed_options(name: str, args: list[str]) -> dict[str, Any]:
    """``zoo train`` settings given as --KEY VALUE, typed, checked and fixed for every trial; misfits refused."""
    from zoo.contracts.options import coerce, parse_extra_args

    options = parse_extra_args(args)
    for declared in settings.named(tune="refused"):
        if declared.name in options:
            raise UsageError(f"{declared.flag} cannot be used with zoo tune", hint="see zoo tune --help")
    typed = [s for s in settings.named(tune="fixed") if s.name in options and s.group in ("run", "cli")]
    for declared in typed:  # the hyperparameters are typed by the recipe, when the trials are planned
        options[declared.name] = coerce(declared.name, options[declared.name], _SAMPLES[declared.kind])
    settings.check_given({s.name: options[s.name] for s in typed})
    if "weights" in options:
        from zoo.training.plan import weights_ref

        options["weights"] = weights_ref(name, options["weights"])
    return options


_SAMPLES: dict[str, Any] = {"int": 0, "float": 0.0, "str": "", "bool": False, "path": ""}


@app.command("tune", context_settings=EXTRA_ARGS, epilog=TUNE_EPILOG)
@with_settings("tune", own=TUNE_OPTIONS)
def tune_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Model to tune.", autocompletion=complete_model),
    space: list[str] = typer.Option(
        [],
        "--space",
        metavar="KEY=SPEC",
        help="Searched option: LOW..HIGH, LOW..HIGH:log or A,B,C (default: the recipe's space, see zoo info).",
    ),
    **given: Any,
) -> None:
    """Search hyperparameters with Optuna; every trial is a real run in DIR/trial-NNNN, the best linked as DIR/best.

    A line per finished trial goes to stderr; the table of trials and the best one to stdout."""
    from zoo.tuning.study import tune

    load_registry(warn=False).model(name)  # an unknown model fails before Optuna or torch load
    options = fixed_options(name, list(ctx.args))
    quiet, as_json = given.pop("quiet"), given.pop("json")
    say = None if quiet else (lambda line: err.print(safe(line)))
    summary = tune(name, space=space or None, say=say, **given, **options)
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
