"""Commands that describe what is installed: list, plugins, devices, info."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer

from zoo.cli.app import app, complete_model, err, load_registry, out, print_table, safe
from zoo.cli.common import json_option
from zoo.contracts.spec import TASKS
from zoo.contracts.tasks import lower_is_better
from zoo.errors import UsageError
from zoo.jsonout import print_json


@app.command("list", epilog="Examples: zoo list; zoo list 'vision.*'; zoo list --task binary --json")
def list_cmd(
    pattern: Optional[str] = typer.Argument(
        None, metavar="[PATTERN]", help="Shell-style pattern such as 'vision.*'.", autocompletion=complete_model
    ),
    task: Optional[str] = typer.Option(None, "--task", metavar="TASK", help=f"Only this task: {', '.join(TASKS)}."),
    plugin: Optional[str] = typer.Option(None, "--plugin", help="Only models of this plugin."),
    as_json: bool = json_option(),
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
                    "recipes": list(dict.fromkeys(r.name for r in s.recipes)),
                    "plugin": s.distribution,
                    "version": s.version,
                }
                for s in specs
            ]
        )
        return
    print_table(["model", "task", "dataset", "summary"], [[s.full_name, s.task, s.dataset, s.summary] for s in specs])
    if not specs:
        hint = (
            "no model matches"
            if registry.models
            else "no models installed: pip install zoo-tabular (or another plugin)"
        )
        err.print(hint)


@app.command("plugins", epilog="Examples: zoo plugins; zoo plugins --json")
def plugins_cmd(as_json: bool = json_option()) -> None:
    """Show each plugin: distribution, version, what it registers, and whether it works."""
    registry = load_registry(warn=False)
    rows = [p for p in registry.plugins if p.name != "core"]
    if as_json:
        print_json([dict(p.__dict__) for p in rows])
        return
    print_table(
        ["plugin", "distribution", "version", "status", "models"],
        [
            [p.name, p.distribution, p.version, "ok" if p.status == "ok" else f"broken: {p.error}", ", ".join(p.models)]
            for p in rows
        ],
    )
    for kind, name, dists in registry.all_conflicts:
        err.print(safe(f"conflict: {kind} {name!r} is registered by {' and '.join(dists)}"))
    if not rows:
        err.print("no plugins installed")


@app.command("devices", epilog="Examples: zoo devices; zoo devices --json")
def devices_cmd(as_json: bool = json_option()) -> None:
    """Show every device backend: available or why not, devices, autocast dtypes, distributed backend."""
    registry = load_registry()
    reports = [backend.report() for backend in registry.devices.values()]
    if as_json:
        print_json([r.as_dict() for r in reports])
        return
    rows = []
    for r in reports:
        rows.append(
            [
                r.name,
                "yes" if r.available else f"no: {r.reason}",
                str(r.count),
                ", ".join(r.names),
                ", ".join(r.autocast),
                r.distributed or "none",
                "" if r.memory_in_use is None else f"{r.memory_in_use / 2**20:.1f} MiB",
            ]
        )
    print_table(["device", "available", "count", "names", "autocast", "distributed", "memory in use"], rows)


@app.command("info", epilog="Examples: zoo info vision.cnn; zoo info runs/vision.cnn/latest; zoo info best.safetensors")
def info_cmd(
    name: str = typer.Argument(
        ..., metavar="NAME|CKPT|RUN", help="A model name, a checkpoint or a run folder.", autocompletion=complete_model
    ),
    as_json: bool = json_option(),
) -> None:
    """Describe a model (recipes, options, weights, parameters, shapes) or a checkpoint's metadata."""
    from zoo.files.weights import checkpoint_file, looks_like_path

    if looks_like_path(name) or ":" in name:
        from zoo.files.checkpoint import describe_checkpoint

        info = describe_checkpoint(checkpoint_file(name))
        if as_json:
            print_json(info)
        else:
            for key, value in info.items():
                text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
                out.print(safe(f"{key}: {text}"))
        return
    from zoo.use.modelinfo import describe_model

    info = describe_model(load_registry(), name)
    if as_json:
        print_json(info)
        return
    _print_model(info)


def _print_model(info: dict[str, Any]) -> None:
    out.print(f"{info['name']}  {info['summary']}", style="bold")
    for key in ("task", "dataset", "plugin", "parameters", "input_shape", "output_shape"):
        out.print(f"  {key.replace('_', ' ')}: {info[key]}")
    if any("metric" in r["hparams"] for r in info["recipes"]):
        out.print(f"  metrics (--metric NAME picks the main one): {', '.join(info['metrics'])}")
    out.print(f"  config: {json.dumps(info['config'])}")
    if info["data_options"]:
        out.print(f"  data options: {json.dumps(info['data_options'])}")
    out.print(f"  recipes (the default: {info['default_recipe']}):")
    for group in _same_recipes(info["recipes"]):
        first = group[0]
        names = " = ".join(_recipe_name(r, len({x["device"] for x in group}) > 1 or r is first) for r in group)
        promise = []
        if first["target"]:
            metric, value = first["target"]
            promise.append(f"target {metric} {'<=' if lower_is_better(metric) else '>='} {value:g}")
        if first["expected"]:
            promise.append(f"expected [{first['expected'][0]:g}, {first['expected'][1]:g}]")
        out.print(f"    {names}: {first['summary']}" + (f"; {', '.join(promise)}" if promise else ""))
        out.print(f"      {json.dumps(first['hparams'])}")
        if first["space"]:
            shown = ", ".join(f"{k}={v}" for k, v in first["space"].items())
            out.print(f"      search space (zoo tune): {shown}")
    if info["methods"]:
        out.print(f"  methods: {', '.join(info['methods'])}")
    if info["predict_options"]:
        out.print("  predict options:")
        for o in info["predict_options"]:
            out.print(f"    {o['flag']} {o['type'].upper()}: {o['help']} (default {o['default']})")
    for w in info["weights"]:
        out.print(
            f"  weights {info['name']}:{w['tag']}: {w['metric']} {w['value']:.4g} on {w['dataset']} {w['split']}, "
            f"recipe {w['recipe']}, seed {w['seed']}, trained in {_seconds(w['train_seconds'])} on "
            f"{w['machine'] or w['device']}"
        )
        out.print(f"    sha256 {w['sha256']}; made by: {w['command']}")
    out.print(f"  train with: zoo train {info['name']} [--recipe R] [--KEY VALUE for any option above]")


def _seconds(value: float) -> str:
    """A training time as people read it: ``0.27 s``, ``33 s``, ``12.5 min``."""
    if value <= 0:
        return "time unknown"
    if value < 10:
        return f"{value:.2g} s"
    return f"{value:.0f} s" if value < 600 else f"{value / 60:.1f} min"


def _recipe_name(recipe: dict[str, Any], with_device: bool) -> str:
    where = recipe["device"] if with_device and recipe["device"] != "any" else ""
    return f"{recipe['name']} [{where}]" if where else recipe["name"]


def _same_recipes(recipes: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Recipes grouped when they say and set the same (``default [cpu] = cpu``), in order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for recipe in recipes:
        same = {k: recipe[k] for k in ("summary", "hparams", "target", "expected", "space")}
        groups.setdefault(json.dumps(same, sort_keys=True, default=str), []).append(recipe)
    return list(groups.values())


@app.command("weights", epilog="Examples: zoo weights; zoo weights 'vision.*' --json")
def weights_cmd(
    pattern: Optional[str] = typer.Argument(
        None, metavar="[PATTERN]", help="Shell-style model pattern.", autocompletion=complete_model
    ),
    as_json: bool = json_option(),
) -> None:
    """List published weight sets with their provenance and metric: use them as NAME[:TAG] in predict,
    eval, export and serve, or as zoo train NAME --weights TAG."""
    from zoo.files.weights import weights_status
    from zoo.use.modelinfo import weights_info

    registry = load_registry()
    rows = [
        {"model": s.full_name, **weights_info(w), "status": weights_status(w)}
        for s in registry.find(pattern)
        for w in s.weights
    ]
    if as_json:
        print_json(rows)
        return
    columns = ["weights", "status", "metric", "data", "trained", "size", "sha256", "command"]
    table = [
        [
            f"{r['model']}:{r['tag']}",
            r["status"],
            f"{r['metric']} {r['value']:.4g}",
            f"{r['dataset']} {r['split'].split(' (')[0]}",
            f"{_seconds(r['train_seconds'])}, seed {r['seed']}",
            f"{r['size'] / 1024:.0f} KiB",
            r["sha256"][:12],
            r["command"],
        ]
        for r in rows
    ]
    if not out.is_terminal:  # a pipe: one row per line, every column
        print_table(columns, table)
    else:  # a terminal: the commands, too long for a column, go under the table whole
        names = ("weights", "status", "metric", "trained", "sha256")  # 77 columns for these nine
        keep = [columns.index(c) for c in names]
        print_table(
            list(names),
            [[row[i] if i != 4 else row[i].partition(",")[0] for i in keep] for row in table],
            whole=names,
        )
        for row in table:
            out.print(safe(f"{row[0]}: {row[-1]}"))
    if rows:
        err.print("the data's description, the machine, the full sha256: zoo weights --json or zoo info NAME")
    if not rows:
        err.print("no published weights match" if registry.models else "no models installed")
    damaged = [f"{r['model']}:{r['tag']}" for r in rows if not str(r["status"]).startswith("ok")]
    if damaged:
        err.print(safe(f"warning: {', '.join(damaged)}: the file does not match its declaration; reinstall the plugin"))
