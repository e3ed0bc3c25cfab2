"""The ``zoo`` command.

Commands stay thin: they parse, call the library, and print. Nothing here imports
torch at module level, so ``zoo list`` and ``zoo plugins`` start instantly. Errors
that the user can fix are ZooErrors: printed as one line, exit code 2, no traceback.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from zoo import __version__
from zoo.errors import UsageError, ZooError
from zoo.spec import TASKS

app = typer.Typer(
    name="zoo",
    help="A plugin-based model zoo for PyTorch: list, inspect, train, evaluate and reuse classic models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JSON_HELP = "Print JSON instead of a table."
EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _version(value: bool) -> None:
    if value:
        out.print(f"zoo {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    strict_plugins: bool = typer.Option(
        False, "--strict-plugins", help="Fail when any plugin is broken (also ZOO_STRICT_PLUGINS=1)."
    ),
) -> None:
    """A plugin-based model zoo for PyTorch."""
    if strict_plugins:
        os.environ["ZOO_STRICT_PLUGINS"] = "1"


def _registry(warn: bool = True) -> Any:
    from zoo.registry import get_registry, warn_problems

    registry = get_registry()
    if warn:
        warn_problems(registry)
    return registry


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# -- listing -----------------------------------------------------------------
@app.command("list")
def list_cmd(
    pattern: Optional[str] = typer.Argument(None, help="Shell-style pattern such as 'vision.*'."),
    task: Optional[str] = typer.Option(None, "--task", help=f"Only this task: {', '.join(TASKS)}."),
    plugin: Optional[str] = typer.Option(None, "--plugin", help="Only models of this plugin."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List the models that installed plugins offer."""
    if task is not None and task not in TASKS:
        raise UsageError(f"unknown task {task!r}", hint=f"tasks: {', '.join(TASKS)}")
    registry = _registry()
    specs = registry.find(pattern, task=task, plugin=plugin)
    if as_json:
        _print_json(
            [
                {
                    "name": s.full_name,
                    "summary": s.summary,
                    "task": s.task,
                    "dataset": s.dataset,
                    "default_recipe": s.default_recipe,
                    "recipes": [r.name for r in s.recipes],
                    "plugin": s.distribution,
                    "version": s.version,
                }
                for s in specs
            ]
        )
        return
    table = Table(title=None, show_lines=False)
    for column in ("model", "task", "dataset", "summary"):
        table.add_column(column)
    for s in specs:
        table.add_row(s.full_name, s.task, s.dataset, s.summary)
    out.print(table)
    if not specs:
        hint = (
            "no model matches"
            if registry.models
            else "no models installed: pip install zoo-tabular (or another plugin)"
        )
        err.print(hint)


@app.command("plugins")
def plugins_cmd(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show each plugin: distribution, version, what it registers, and whether it works."""
    registry = _registry(warn=False)
    rows = [p for p in registry.plugins if p.name != "core"]
    if as_json:
        _print_json([dict(p.__dict__) for p in rows])
        return
    table = Table()
    for column in ("plugin", "distribution", "version", "status", "models"):
        table.add_column(column)
    for p in rows:
        status = "ok" if p.status == "ok" else f"broken: {p.error}"
        table.add_row(p.name, p.distribution, p.version, status, ", ".join(p.models))
    out.print(table)
    for name, dists in registry.conflicts.items():
        err.print(f"conflict: {name!r} is registered by {' and '.join(dists)}")
    if not rows:
        err.print("no plugins installed")


@app.command("devices")
def devices_cmd(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show every device backend: available or why not, devices, autocast dtypes, distributed backend."""
    registry = _registry()
    reports = [backend.report() for backend in registry.devices.values()]
    if as_json:
        _print_json([r.as_dict() for r in reports])
        return
    table = Table()
    for column in ("device", "available", "count", "names", "autocast", "distributed", "memory in use"):
        table.add_column(column)
    for r in reports:
        table.add_row(
            r.name,
            "yes" if r.available else f"no: {r.reason}",
            str(r.count),
            ", ".join(r.names),
            ", ".join(r.autocast),
            r.distributed or "none",
            "" if r.memory_in_use is None else f"{r.memory_in_use / 2**20:.1f} MiB",
        )
    out.print(table)


@app.command("info")
def info_cmd(
    name: str = typer.Argument(..., help="A model name, or a .safetensors checkpoint to describe."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Describe a model (recipes, options, parameters, shapes) or a checkpoint's metadata."""
    if name.endswith(".safetensors") or Path(name).is_file():
        from zoo.checkpoint import describe_checkpoint

        info = describe_checkpoint(name)
        if as_json:
            _print_json(info)
        else:
            for key, value in info.items():
                text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
                out.print(f"{key}: {text}")
        return
    from zoo.inspect import describe_model

    info = describe_model(_registry(), name)
    if as_json:
        _print_json(info)
        return
    out.print(f"[bold]{info['name']}[/bold]  {info['summary']}")
    for key in ("task", "dataset", "plugin", "parameters", "input_shape", "output_shape"):
        out.print(f"  {key.replace('_', ' ')}: {info[key]}")
    out.print(f"  config: {json.dumps(info['config'])}")
    if info["data_options"]:
        out.print(f"  data options: {json.dumps(info['data_options'])}")
    out.print("  recipes:")
    for recipe in info["recipes"]:
        mark = " (default)" if recipe["name"] == info["default_recipe"] else ""
        out.print(f"    {recipe['name']}{mark}: {recipe['summary']}")
        out.print(f"      {json.dumps(recipe['hparams'])}")
    if info["methods"]:
        out.print(f"  methods: {', '.join(info['methods'])}")
    out.print(f"  train with: zoo train {info['name']} [--recipe R] [--KEY VALUE for any option above]")


# -- training and using checkpoints -------------------------------------------
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
) -> None:
    """Train a model. Any recipe hyperparameter, data option or model config key can be set as --KEY VALUE
    (see zoo info NAME), e.g. zoo train tabular.linear --method gd."""
    from zoo.options import parse_extra_args

    if resume is None:
        _registry(warn=False).model(name)  # fail fast, before torch is imported
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
        **overrides,
    )
    if run.is_main and run.best is not None:
        out.print(f"best {run.best['metric']} {run.best['value']:.6g} at epoch {run.best['epoch']}: {run.run_dir}")


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
        _print_json(metrics)
        return
    for key, value in metrics.items():
        out.print(f"{key}: {_fmt(value)}")


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
        _print_json(results)
        return
    for result in results:
        line = f"{result.get('input', '')} -> {_fmt(result.get('output'))}"
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
        _print_json(runs)
        return
    table = Table()
    for column in ("run", "model", "date", "epochs", "best"):
        table.add_column(column)
    for r in runs:
        table.add_row(r["path"], r["model"], r["date"], str(r["epochs"]), r["best"])
    out.print(table)
    if not runs:
        err.print(f"no runs under {directory}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        return "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
    return str(value)


def main() -> None:
    """Entry point: run the app and turn ZooErrors into one clean line."""
    # torch warns on import when numpy is absent; zoo does not need numpy.
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    try:
        app()
    except ZooError as exc:
        if os.environ.get("RANK", "0") == "0":  # under torchrun, say it once
            err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
