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
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 0)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, mps, npu (or NAME:INDEX)."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Data folder (default $ZOO_DATA_DIR or ~/.cache/zoo)."
    ),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/<model>/<timestamp>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder."),
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32 (default), bf16 or fp16 (autocast)."),
    save_every: Optional[int] = typer.Option(
        None,
        "--save-every",
        min=0,
        help="Save last.safetensors every N epochs (0: only at the end; default: every 10 s of training).",
    ),
    weights: Optional[str] = typer.Option(
        None, "--weights", help="Start from these weights: a tag of the model's published weights, or a checkpoint."
    ),
    deterministic: bool = typer.Option(
        False, "--deterministic", help="Deterministic kernels, reproducible bit for bit."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="One line per epoch, no progress bar."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for torch (default: torch's)."),
    download: bool = typer.Option(
        True, "--download/--no-download", help="Fetch missing data sets (off with ZOO_OFFLINE=1 too)."
    ),
) -> None:
    """Train a model. Any recipe hyperparameter, data option or model config key can be set as --KEY VALUE
    (see zoo info NAME), e.g. zoo train tabular.linear --method gd."""
    from zoo.options import parse_extra_args

    if resume is None:
        load_registry(warn=False).model(name)  # fail fast, before torch is imported
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
        weights=_weights_ref(name, weights),
        save_every=save_every,
        **overrides,
    )
    if run.is_main and run.best is not None:
        out.print(f"best {run.best['metric']} {run.best['value']:.6g} at epoch {run.best['epoch']}: {run.run_dir}")


def _weights_ref(name: str, weights: str | None) -> str | None:
    """``--weights default`` means the model's published set; a path stays a path."""
    from zoo.weights import looks_like_path

    if weights is None or looks_like_path(weights) or ":" in weights:
        return weights
    return f"{name}:{weights}"
