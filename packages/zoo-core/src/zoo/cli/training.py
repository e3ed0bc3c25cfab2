"""``zoo train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from zoo.cli.app import EXTRA_ARGS, app, load_registry, out


@app.command("train", context_settings=EXTRA_ARGS)
def train_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model to train, e.g. tabular.linear."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="Named recipe (see zoo info NAME)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Number of epochs."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=0, help="Batch size (0 = full batch)."),
    lr: Optional[float] = typer.Option(None, "--lr", min=0.0, help="Learning rate."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd, adam or adamw."),
    momentum: Optional[float] = typer.Option(None, "--momentum", min=0.0, help="SGD momentum."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="none, cosine or onecycle."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, mps, npu (or NAME:INDEX)."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Data folder (default $ZOO_DATA_DIR or ~/.cache/zoo)."
    ),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/<model>/<timestamp>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16 (autocast)."),
    deterministic: bool = typer.Option(
        False, "--deterministic", help="Deterministic kernels, reproducible bit for bit."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="One line per epoch, no progress bar."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for torch (default: torch's)."),
    download: bool = typer.Option(
        True, "--download/--no-download", help="Fetch missing data sets (off with ZOO_OFFLINE=1 too)."
    ),
    folds: int = typer.Option(
        1, "--folds", min=1, help="K > 1: K-fold cross-validation, one run per fold in RUN_DIR/fold-<i>."
    ),
) -> None:
    """Train a model. Any recipe hyperparameter, data option or model config key can be set as --KEY VALUE
    (see zoo info NAME), e.g. zoo train tabular.linear --method gd."""
    from zoo.options import parse_extra_args

    if resume is None:
        load_registry(warn=False).model(name)  # fail fast, before torch is imported
    if folds > 1:
        from zoo.folds import check_foldable

        check_foldable(name)
    from zoo.trainer import train

    if threads is not None:
        import torch

        torch.set_num_threads(threads)

    overrides: dict[str, Any] = {
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
    overrides.update(parse_extra_args(list(ctx.args)))
    if folds > 1:
        from zoo.folds import train_folds

        summary = train_folds(
            name,
            folds,
            out=out_dir,
            report=out.print,
            seed=seed,
            device=device,
            data_dir=data_dir,
            resume=resume,
            precision=precision,
            deterministic=deterministic,
            quiet=quiet,
            download=download,
            **overrides,
        )
        out.print(
            f"mean {summary['metric']} {summary['mean']:.3g} ± {summary['std']:.2g} over {folds} folds "
            f"(best epochs {summary['best_mean']:.3g} ± {summary['best_std']:.2g}); {summary['run_dir']}/folds.json"
        )
        return
    run = train(
        name,
        seed=seed,
        device=device,
        data_dir=data_dir,
        out=out_dir,
        resume=resume,
        precision=precision,
        deterministic=deterministic,
        quiet=quiet,
        download=download,
        **overrides,
    )
    if run.is_main and run.best is not None:
        out.print(f"best {run.best['metric']} {run.best['value']:.6g} at epoch {run.best['epoch']}: {run.run_dir}")
