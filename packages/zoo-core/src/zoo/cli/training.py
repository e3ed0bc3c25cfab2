"""``zoo train``: its options are the declared settings (``zoo.contracts.settings``)."""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from typing import Any, Optional

import typer

from zoo.cli.app import (
    EXTRA_ARGS,
    app,
    complete_model,
    complete_recipe,
    complete_weight_tag,
    err,
    load_registry,
    out,
    print_json,
    safe,
)
from zoo.cli.common import help_option, with_settings
from zoo.contracts import settings
from zoo.errors import UsageError
from zoo.training.runconfig import RunConfig, RunOptions

TRAIN_EPILOG = (
    "Examples: zoo train tabular.linear --method gd; "
    "zoo train tabular.diabetes --recipe seed --data diabetes.csv --epochs 50; "
    "zoo train vision.cnn --kernel-size 3 --padding 1 --device cuda; "
    "zoo train --config runs/tabular.logistic/latest/config.json --seed 1; "
    "zoo train tabular.logistic --print-config > run.json"
)
COMPLETION = {"recipe": {"autocompletion": complete_recipe}, "weights": {"autocompletion": complete_weight_tag}}


@app.command("train", context_settings=EXTRA_ARGS, epilog=TRAIN_EPILOG, add_help_option=False)
@with_settings("train", extra=COMPLETION)
def train_cmd(
    ctx: typer.Context,
    name: Optional[str] = typer.Argument(
        None,
        metavar="NAME",
        help="Model to train, e.g. tabular.linear (may be left out with --config or --resume).",
        autocompletion=complete_model,
        show_default=False,
    ),
    show_help: bool = help_option(),
    **given: Any,
) -> None:
    """Train a model. Any recipe hyperparameter, data option or model config key can be set as --KEY VALUE
    (zoo train NAME --help lists them), e.g. zoo train tabular.linear --method gd."""
    from zoo.contracts.options import parse_extra_args
    from zoo.training.progress import output

    if show_help:
        _train_help(ctx, name)
        return
    settings.check_given(given)
    from_file = _config_file(given)
    name = _model_name(name, from_file, given)
    overrides = _file_overrides(name, from_file, given)
    for declared in settings.SETTINGS:  # the recipe and hyperparameters given here override the file's
        if declared.group in ("recipe", "hparams") and given.get(declared.name) is not None:
            overrides[declared.name] = given[declared.name]
    overrides.update(parse_extra_args(list(ctx.args)))
    options = _run_options(from_file, given)
    if given["print_config"]:
        from zoo.training.plan import make_plan

        print_json(make_plan(name, replace(options, quiet=True, data_dir=None, resume=None), **overrides).settings())
        return
    if options.threads is not None:
        import torch

        torch.set_num_threads(options.threads)
    as_json = bool(given["json"])
    with output(stream=sys.stderr if as_json else None, log_every=given["log_every"]):
        if given["folds"] > 1:
            if options.early_stop:
                raise UsageError("--early-stop cannot be combined with --folds", hint="train the folds without it")
            _train_folds(name, given["folds"], options, as_json, overrides)
            return
        from zoo.training.trainer import train_with

        run = train_with(name, options, **overrides)
    if run.is_main:
        _report(run, as_json, options.quiet)


def _config_file(given: dict[str, Any]) -> RunConfig | None:
    """The ``--config`` file, read and checked; the options that a resumed run refuses, refused."""
    from zoo.training.runconfig import read_config_file

    if given["resume"] is not None:
        for declared in settings.named(on_resume="refuse"):
            if given[declared.name] not in (None, declared.default):
                raise UsageError(
                    f"{declared.flag} cannot be combined with --resume: a resumed run keeps its own settings",
                    hint="resume one fold with zoo train --resume RUN_DIR/fold-<i>"
                    if declared.name == "folds"
                    else None,
                )
    return read_config_file(given["config"]) if given["config"] is not None else None


def _model_name(name: str | None, from_file: RunConfig | None, given: dict[str, Any]) -> str:
    if from_file is not None:
        if name is not None and name != from_file.model:
            raise UsageError(f"{from_file.path} describes a run of {from_file.model!r}, not {name!r}")
        name = from_file.model
    if name is None and given["resume"] is None:
        raise UsageError("give the model to train", hint="zoo train NAME, or zoo train --config FILE; see zoo list")
    return name or ""


def _file_overrides(name: str, from_file: RunConfig | None, given: dict[str, Any]) -> dict[str, Any]:
    """The file's recipe, hyperparameters, data options and builder keys (nothing when resuming)."""
    if given["resume"] is not None:
        return {}
    registry = load_registry(warn=False)
    spec = registry.model(name)  # fail fast, before torch is imported
    if from_file is None:
        return {}
    overrides = from_file.overrides(spec, registry.dataset(spec.dataset), keep_hparams=given["recipe"] is None)
    if given["folds"] > 1:  # each fold's own config.json names its fold; --folds sets them anew
        overrides.pop("fold", None)
        overrides.pop("folds", None)
    return overrides


def _run_options(from_file: RunConfig | None, given: dict[str, Any]) -> RunOptions:
    """The run settings given here, else the file's (for the settings a file keeps), else the declared default."""
    values: dict[str, Any] = {}
    for declared in settings.named("run"):
        value = given.get(declared.name)
        if value is None and from_file is not None and declared.config == "setting":
            value = from_file.get(declared.name)
        values[declared.name] = declared.default if value is None else value
    return RunOptions().with_keywords(values)[0]


def _report(run: Any, as_json: bool, quiet: bool) -> None:
    """The summary of a finished run: JSON, or the best epoch's line (warnings too when quiet)."""
    from zoo.training.progress import run_warnings

    last = run.history[-1] if run.history else {}
    warnings = run_warnings(last, run.spec.task)
    if as_json:
        summary = {"run_dir": str(run.run_dir), "model": run.spec.full_name, "epochs": len(run.history)}
        print_json({**summary, "best": run.best, "last": last, "seconds": round(run.seconds, 3), "warnings": warnings})
        return
    if quiet:
        for warning in warnings:
            err.print(safe(f"warning: {warning}"))
    if run.best is not None:
        metric = str(run.best["metric"])
        if last.get("eval_split") == "train":
            metric = metric.removeprefix("val_") + " (on the training data)"
        out.print(safe(f"best {metric} {run.best['value']:.6g} at epoch {run.best['epoch']}: {run.run_dir}"))


def _train_folds(name: str, folds: int, options: RunOptions, as_json: bool, overrides: dict[str, Any]) -> None:
    """K-fold cross-validation: one run per fold, then each fold's and the mean ± std metric."""
    from zoo.files.runfolder import FOLDS
    from zoo.training.folds import check_foldable, train_folds

    check_foldable(name)
    report = err.print if as_json else out.print
    shared = {k: v for k, v in asdict(options).items() if k not in ("out", "resume")}
    summary = train_folds(name, folds, out=options.out, report=lambda text: report(safe(text)), **shared, **overrides)
    if as_json:
        print_json(summary)
        return
    out.print(
        safe(
            f"mean {summary['metric']} {summary['mean']:.3g} ± {summary['std']:.2g} over {folds} folds "
            f"(best epochs {summary['best_mean']:.3g} ± {summary['best_std']:.2g}); {summary['run_dir']}/{FOLDS}"
        )
    )


def _train_help(ctx: typer.Context, name: str | None) -> None:
    """The command's help, then the named model's own hyperparameters, data options and builder keys."""
    from zoo.cli.common import model_options_help

    out.print(ctx.get_help(), markup=False)
    if not name:
        out.print("\nGive a model before --help to see its own options: zoo train NAME --help.", markup=False)
        return
    registry = load_registry(warn=False)
    spec = registry.model(name)
    out.print("\n" + model_options_help(spec, registry.dataset(spec.dataset)), markup=False)
