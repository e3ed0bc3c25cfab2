"""``zoo train``."""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path
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
from zoo.errors import UsageError
from zoo.training.runconfig import RunOptions

TRAIN_EPILOG = (
    "Examples: zoo train tabular.linear --method gd; "
    "zoo train tabular.diabetes --recipe seed --data diabetes.csv --epochs 50; "
    "zoo train vision.cnn --kernel-size 3 --padding 1 --device cuda; "
    "zoo train --config runs/tabular.logistic/latest/config.json --seed 1; "
    "zoo train tabular.logistic --print-config > run.json"
)


@app.command("train", context_settings=EXTRA_ARGS, epilog=TRAIN_EPILOG)
def train_cmd(
    ctx: typer.Context,
    name: Optional[str] = typer.Argument(
        None,
        metavar="NAME",
        help="Model to train, e.g. tabular.linear (may be left out with --config or --resume).",
        autocompletion=complete_model,
        show_default=False,
    ),
    recipe: Optional[str] = typer.Option(
        None, "--recipe", metavar="RECIPE", help="Named recipe (see zoo info NAME).", autocompletion=complete_recipe
    ),
    epochs: Optional[int] = typer.Option(None, "--epochs", metavar="N", min=1, help="Number of epochs."),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", metavar="N", min=0, help="Batch size (0 = full batch)."
    ),
    lr: Optional[float] = typer.Option(None, "--lr", metavar="LR", min=0.0, help="Learning rate."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", metavar="sgd|adam|adamw", help="sgd, adam or adamw."),
    momentum: Optional[float] = typer.Option(None, "--momentum", metavar="M", min=0.0, help="SGD momentum."),
    schedule: Optional[str] = typer.Option(
        None, "--schedule", metavar="none|cosine|onecycle", help="none, cosine or onecycle."
    ),
    seed: Optional[int] = typer.Option(None, "--seed", metavar="N", help="Random seed (default 0)."),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto, cpu, cuda, mps, npu (or NAME:INDEX)."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", metavar="DIR", help="Data folder (default $ZOO_DATA_DIR or ~/.cache/zoo)."
    ),
    out_dir: Optional[Path] = typer.Option(
        None, "--out", metavar="RUN_DIR", help="Run folder (default runs/<model>/<timestamp>)."
    ),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="RUN_DIR", help="Continue the run in this folder."),
    precision: Optional[str] = typer.Option(
        None, "--precision", metavar="fp32|bf16|fp16", help="fp32 (default), bf16 or fp16 (autocast)."
    ),
    folds: int = typer.Option(
        1,
        "--folds",
        min=1,
        metavar="K",
        help="K > 1: K-fold cross-validation, one run per fold in RUN_DIR/fold-<i>, with mean ± std.",
    ),
    save_every: Optional[int] = typer.Option(
        None,
        "--save-every",
        min=0,
        metavar="N",
        help="Save last.safetensors every N epochs (0: only at the end; default: every 10 s of training).",
    ),
    weights: Optional[str] = typer.Option(
        None,
        "--weights",
        metavar="TAG|CKPT",
        help="Start from these weights: a tag of the model's published weights, or a checkpoint.",
        autocompletion=complete_weight_tag,
    ),
    deterministic: Optional[bool] = typer.Option(
        None,
        "--deterministic/--no-deterministic",
        help="Deterministic kernels, reproducible bit for bit.",
        show_default=False,
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final summary line."),
    log_every: Optional[int] = typer.Option(
        None,
        "--log-every",
        min=1,
        metavar="N",
        help="Print every N-th epoch (default: about 30 lines at most); the first and last always.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON summary at the end and nothing else on stdout (progress goes to stderr)."
    ),
    config_file: Optional[Path] = typer.Option(
        None,
        "--config",
        metavar="FILE",
        help="Train as this file says (a run's config.json, or --print-config's output); "
        "options given here override it.",
    ),
    print_config: bool = typer.Option(
        False, "--print-config", help="Print the configuration as JSON (for --config) and exit without training."
    ),
    threads: Optional[int] = typer.Option(
        None,
        "--threads",
        metavar="N",
        min=1,
        help="CPU threads for torch (default: 1 for small models or a busy machine, else the free cores; "
        "the run's config.json records it).",
    ),
    download: bool = typer.Option(
        True, "--download/--no-download", help="Fetch missing data sets (off with ZOO_OFFLINE=1 too)."
    ),
    early_stop: Optional[int] = typer.Option(
        None,
        "--early-stop",
        min=0,
        metavar="PATIENCE",
        help="Stop when the main validation metric has not improved for PATIENCE epochs "
        "(last.safetensors is saved). --resume keeps a run's patience; --early-stop 0 turns it off.",
    ),
) -> None:
    """Train a model. Any recipe hyperparameter, data option or model config key can be set as --KEY VALUE
    (see zoo info NAME), e.g. zoo train tabular.linear --method gd."""
    from zoo.contracts.options import parse_extra_args
    from zoo.training.progress import output, run_warnings
    from zoo.training.runconfig import read_config_file

    from_file = read_config_file(config_file) if config_file is not None else None
    if resume is not None:
        for flag, value in (("--config", config_file), ("--folds", folds if folds > 1 else None)):
            if value is not None:
                raise UsageError(
                    f"{flag} cannot be combined with --resume: a resumed run keeps its own settings",
                    hint="resume one fold with zoo train --resume RUN_DIR/fold-<i>" if flag == "--folds" else None,
                )
    if from_file is not None:
        if name is not None and name != from_file.model:
            raise UsageError(f"{config_file} describes a run of {from_file.model!r}, not {name!r}")
        name = from_file.model
    if name is None and resume is None:
        raise UsageError("give the model to train", hint="zoo train NAME, or zoo train --config FILE; see zoo list")
    name = name or ""
    overrides: dict[str, Any] = {}
    if resume is None:
        registry = load_registry(warn=False)
        spec = registry.model(name)  # fail fast, before torch is imported
        if from_file is not None:
            overrides = from_file.overrides(spec, registry.dataset(spec.dataset), keep_hparams=recipe is None)
            if folds > 1:  # each fold's own config.json names its fold; --folds sets them anew
                overrides.pop("fold", None)
                overrides.pop("folds", None)
    given: dict[str, Any] = {
        k: v
        for k, v in dict(
            recipe=recipe,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            momentum=momentum,
            schedule=schedule,
        ).items()
        if v is not None
    }
    overrides.update(given)
    overrides.update(parse_extra_args(list(ctx.args)))
    if from_file is not None:
        seed = from_file.get("seed") if seed is None else seed
        precision = precision or from_file.get("precision")
        deterministic = bool(from_file.get("deterministic")) if deterministic is None else deterministic
        save_every = from_file.get("save_every") if save_every is None else save_every
        early_stop = from_file.get("early_stop") if early_stop is None else early_stop
    file_weights = from_file.get("weights") if from_file is not None else None
    options = RunOptions(
        seed=seed,
        device=device,
        data_dir=data_dir,
        out=out_dir,
        resume=resume,
        precision=precision,
        deterministic=bool(deterministic),
        quiet=quiet,
        download=download,
        weights=weights if weights is not None else file_weights,
        save_every=save_every,
        early_stop=early_stop,
        threads=threads,
    )
    if print_config:
        from zoo.training.plan import make_plan

        print_json(make_plan(name, replace(options, quiet=True, data_dir=None, resume=None), **overrides).settings())
        return
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if folds > 1:
        if early_stop:
            raise UsageError("--early-stop cannot be combined with --folds", hint="train the folds without it")
        settings = {k: v for k, v in asdict(options).items() if k not in ("out", "resume")}
        with output(stream=sys.stderr if as_json else None, log_every=log_every):
            _train_folds(name, folds, out_dir, as_json, settings, overrides)
        return
    from zoo.training.trainer import train_with

    with output(stream=sys.stderr if as_json else None, log_every=log_every):
        run = train_with(name, options, **overrides)
    if not run.is_main:
        return
    last = run.history[-1] if run.history else {}
    warnings = run_warnings(last, run.spec.task)
    if as_json:
        print_json(
            {
                "run_dir": str(run.run_dir),
                "model": run.spec.full_name,
                "epochs": len(run.history),
                "best": run.best,
                "last": last,
                "seconds": round(run.seconds, 3),
                "warnings": warnings,
            }
        )
        return
    if quiet:
        for warning in warnings:
            err.print(safe(f"warning: {warning}"))
    if run.best is not None:
        metric = str(run.best["metric"])
        if last.get("eval_split") == "train":
            metric = metric.removeprefix("val_") + " (on the training data)"
        out.print(safe(f"best {metric} {run.best['value']:.6g} at epoch {run.best['epoch']}: {run.run_dir}"))


def _train_folds(
    name: str, folds: int, out_dir: Path | None, as_json: bool, settings: dict[str, Any], overrides: dict[str, Any]
) -> None:
    """K-fold cross-validation: one run per fold, then each fold's and the mean ± std metric."""
    from zoo.training.folds import check_foldable, train_folds

    check_foldable(name)
    report = err.print if as_json else out.print
    summary = train_folds(name, folds, out=out_dir, report=lambda text: report(safe(text)), **settings, **overrides)
    if as_json:
        print_json(summary)
        return
    out.print(
        safe(
            f"mean {summary['metric']} {summary['mean']:.3g} ± {summary['std']:.2g} over {folds} folds "
            f"(best epochs {summary['best_mean']:.3g} ± {summary['best_std']:.2g}); {summary['run_dir']}/folds.json"
        )
    )
