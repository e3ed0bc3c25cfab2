"""Commands that describe what is installed: list, plugins, devices, info."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from zoo.cli.app import JSON_HELP, app, err, load_registry, out, print_json
from zoo.errors import UsageError
from zoo.spec import TASKS


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
    registry = load_registry()
    specs = registry.find(pattern, task=task, plugin=plugin)
    if as_json:
        print_json(
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
    registry = load_registry(warn=False)
    rows = [p for p in registry.plugins if p.name != "core"]
    if as_json:
        print_json([dict(p.__dict__) for p in rows])
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
    registry = load_registry()
    reports = [backend.report() for backend in registry.devices.values()]
    if as_json:
        print_json([r.as_dict() for r in reports])
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
            print_json(info)
        else:
            for key, value in info.items():
                text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
                out.print(f"{key}: {text}")
        return
    from zoo.inspect import describe_model

    info = describe_model(load_registry(), name)
    if as_json:
        print_json(info)
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
