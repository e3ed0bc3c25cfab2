"""Commands that use checkpoints and runs: eval, predict, plot, runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from zoo.cli.app import JSON_HELP, app, err, fmt, out, print_json
from zoo.errors import UsageError


@app.command("eval")
def eval_cmd(
    checkpoint: Path = typer.Argument(..., help="A .safetensors checkpoint."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Data folder."),
    device: str = typer.Option("auto", "--device", help="Device to evaluate on."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
) -> None:
    """Evaluate a checkpoint on its dataset's held-out split."""
    from zoo.evaluate import evaluate_checkpoint

    metrics = evaluate_checkpoint(checkpoint, data_dir=data_dir, device=device)
    if as_json:
        print_json(metrics)
        return
    for key, value in metrics.items():
        out.print(f"{key}: {fmt(value)}")


@app.command("predict", context_settings={"ignore_unknown_options": True})
def predict_cmd(
    checkpoint: Path = typer.Argument(..., help="A .safetensors checkpoint."),
    inputs: Optional[list[str]] = typer.Argument(None, help="Inputs: numbers, 'v1,v2,...', image paths, text."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Show the K most likely classes."),
    generate: Optional[int] = typer.Option(None, "--generate", min=0, help="Characters to generate (text models)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, help="Sampling temperature."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Predict every row of a CSV file."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling (text generation)."),
    device: str = typer.Option("cpu", "--device", help="Device to predict on."),
    as_json: bool = typer.Option(False, "--json", help="Print predictions as JSON."),
) -> None:
    """Predict with a checkpoint; the model's plugin decides how inputs are read."""
    from zoo.evaluate import predict_checkpoint

    options = {
        "top": top,
        "generate": generate,
        "temperature": temperature,
        "csv": str(csv) if csv else None,
        "seed": seed,
    }
    if not inputs and csv is None:
        raise UsageError("give at least one input (or --csv FILE)", hint="e.g. zoo predict CKPT 4.0")
    results = predict_checkpoint(checkpoint, list(inputs or []), options, device=device)
    if as_json:
        print_json(results)
        return
    for result in results:
        line = f"{result.get('input', '')} -> {fmt(result.get('output'))}"
        extra = result.get("display")
        out.print(line if not extra else f"{line}  {extra}")


@app.command("plot")
def plot_cmd(run_dir: Path = typer.Argument(..., help="A run folder holding metrics.jsonl.")) -> None:
    """(Re)draw curves.png from a run's metrics.jsonl."""
    from zoo.plots import plot_run

    path = plot_run(run_dir)
    out.print(f"wrote {path}")


@app.command("runs")
def runs_cmd(
    directory: Path = typer.Argument(Path("runs"), help="Folder to search for runs."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List runs with model, date, epochs and best metric."""
    from zoo.runs import find_runs

    runs = find_runs(directory)
    if as_json:
        print_json(runs)
        return
    table = Table()
    for column in ("run", "model", "date", "epochs", "best"):
        table.add_column(column)
    for r in runs:
        table.add_row(r["path"], r["model"], r["date"], str(r["epochs"]), r["best"])
    out.print(table)
    if not runs:
        err.print(f"no runs under {directory}")
