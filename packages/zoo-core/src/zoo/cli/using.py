"""Commands that use checkpoints and runs: eval, predict, plot, runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from zoo.cli.app import (
    EXTRA_ARGS,
    app,
    complete_model_or_weights,
    err,
    fmt,
    load_registry,
    out,
    print_table,
    safe,
)
from zoo.cli.common import data_dir_option, device_option, json_option, shared_option
from zoo.errors import UsageError
from zoo.jsonout import print_json

REF_HELP = "A checkpoint file, a run folder (its best checkpoint) or published weights NAME[:TAG]."


@app.command(
    "eval",
    context_settings=EXTRA_ARGS,
    epilog="Examples: zoo eval runs/vision.cnn/latest; zoo eval vision.cnn --data-dir ~/mnist; "
    "zoo eval tabular.diabetes --data other.csv",
)
def eval_cmd(
    ctx: typer.Context,
    ref: str = typer.Argument(
        ..., metavar="CKPT|RUN|NAME[:TAG]", help=REF_HELP, autocompletion=complete_model_or_weights
    ),
    data_dir: Optional[Path] = data_dir_option(),
    device: str = device_option(),
    download: bool = shared_option("download"),
    as_json: bool = json_option(),
) -> None:
    """Evaluate a model on its dataset's held-out split, or on data given as --KEY VALUE
    (the dataset's options, see zoo info NAME)."""
    import sys

    from zoo.contracts.options import parse_extra_args
    from zoo.use.evalplots import eval_pictures
    from zoo.use.evaluate import evaluate_checkpoint

    options = parse_extra_args(list(ctx.args))
    pairs: list[Any] = []  # (outputs, targets) per batch, for residuals.png
    metrics = evaluate_checkpoint(
        ref, data_dir=data_dir, device=device, download=download, data_options=options, collect=pairs
    )
    try:
        drawn = eval_pictures(ref, metrics, pairs)  # confusion.png or residuals.png in the run folder
    except OSError as e:  # a read-only run folder: the metrics still count
        drawn = f"no picture drawn: {e.strerror or e} ({Path(e.filename or ref).name})"
    if drawn:
        print(drawn, file=sys.stderr)
    if as_json:
        print_json(metrics)
        return
    for key, value in metrics.items():
        if key != "per_class":
            out.print(f"{key}: {fmt(value)}", markup=False)
    if metrics.get("per_class"):
        from zoo.use.perclass import per_class_lines

        out.print("per class:", markup=False)
        for line in per_class_lines(metrics["per_class"]):
            out.print(safe(line), markup=False)


def _predict_help(ctx: typer.Context, ref: str | None) -> None:
    out.print(ctx.get_help(), markup=False)
    if not ref:
        out.print("\nGive a model or checkpoint before --help to see its own options.", markup=False)
        return
    from zoo.use.predict import options_help

    out.print("\n" + options_help(_spec_of(ref)), markup=False)


def _spec_of(ref: str) -> Any:
    """The spec of a model name or of the model a checkpoint holds (read from its header)."""
    from zoo.files.weights import looks_like_path

    registry = load_registry(warn=False)
    if not looks_like_path(ref):
        return registry.model(ref.partition(":")[0])
    from zoo.files.checkpoint import describe_checkpoint
    from zoo.files.runfolder import resolve_run

    path = Path(ref)
    info = describe_checkpoint(resolve_run(path) if path.is_dir() else path)
    return registry.model(str(info["model"]))


@app.command(
    "predict",
    context_settings=EXTRA_ARGS,
    add_help_option=False,
    epilog="Examples: zoo predict tabular.logistic 4; zoo predict vision.cnn digit.png --top 3; "
    "zoo predict runs/vision.cnn/latest pictures/ --out preds.csv; "
    "zoo predict runs/tabular.diabetes/latest -0.29,0.49,0.18,-0.29,0,0,-0.53,-0.03",
)
def predict_cmd(
    ctx: typer.Context,
    ref: Optional[str] = typer.Argument(
        None,
        metavar="CKPT|RUN|NAME[:TAG] INPUT...",
        help=REF_HELP + " Then the inputs.",
        autocompletion=complete_model_or_weights,
    ),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed for anything sampled (text generation)."),
    device: str = device_option(),
    as_json: bool = json_option(),
    out_csv: Optional[Path] = typer.Option(
        None,
        "--out",
        metavar="FILE.csv",
        help="Write the predictions to a CSV file, one row per input (a picture's path, class, probability...).",
    ),
    show_help: bool = typer.Option(False, "--help", "-h", help="Show this message (and the model's options) and exit."),
) -> None:
    """Predict INPUT... with a model; its plugin reads the inputs (numbers, 'v1,v2,...', image paths or
    folders of them, text) and declares its own options (--top, --generate, --csv...: see zoo predict NAME --help)."""
    if show_help or ref is None:
        if ref is None and not show_help:
            raise UsageError(
                "give a model or checkpoint and at least one input", hint="e.g. zoo predict tabular.logistic 4"
            )
        _predict_help(ctx, ref)
        return
    if out_csv is not None:
        from zoo.use.predictcsv import check_csv_output

        check_csv_output(out_csv, [ref, *ctx.args])  # before the work: a wrong path costs nothing
    results = predict_ref(ref, list(ctx.args), seed=seed, device=device)
    if out_csv is not None:
        from zoo.use.predictcsv import check_csv_output, write_predictions

        check_csv_output(out_csv, [ref, *ctx.args, *(str(r.get("input", "")) for r in results)])
        write_predictions(out_csv, results)
        err.print(f"wrote {len(results)} prediction(s) to {out_csv}", markup=False)
    if as_json:
        print_json(results)
    elif out_csv is None:
        for result in results:
            out.print(safe(plain_line(result)))


def predict_ref(ref: str, args: list[str], seed: int = 0, device: str = "cpu") -> list[dict[str, Any]]:
    """Predictions for command-line inputs, read the way the model's plugin reads them."""
    from zoo.backend import torch_device
    from zoo.contracts.options import read_args, typed_options
    from zoo.files.weights import open_weights
    from zoo.use.predict import run_predict

    where = torch_device(device, load_registry(warn=False).devices)
    loaded = open_weights(ref, device=str(where))
    declared = loaded.spec.predict_options
    inputs, given = read_args(args, declared)
    options = typed_options(given, declared)
    if not inputs and not any(isinstance(v, str) and v for v in options.values()):
        example = loaded.spec.examples[0] if loaded.spec.examples else "INPUT"
        raise UsageError("give at least one input", hint=f"e.g. zoo predict {ref} {example}")
    return run_predict(loaded, inputs, given, seed=seed)


def plain_line(result: dict[str, Any]) -> str:
    """``INPUT -> OUTPUT`` and then the plugin's ``display``, or else its other scalar fields.

    A plugin that sets ``display`` chose how its result reads. Otherwise every other field
    that is a number, a flag or a short text is shown as ``key=value`` in the result's
    order (``label=1``), except one that only repeats the output (a binary probability);
    lists and objects are left to ``--json``.
    """
    line = f"{result.get('input', '')} -> {fmt(result.get('output'))}"
    if result.get("display"):
        return f"{line}  {result['display']}"
    output = result.get("output")
    shown = []
    for key, value in result.items():
        if key in ("input", "output", "display") or not isinstance(value, (str, int, float, bool)):
            continue
        if type(value) is type(output) and value == output:
            continue
        text = str(value).lower() if isinstance(value, bool) else fmt(value)
        shown.append(f"{key}={text}")
    return "  ".join([line, *shown])


@app.command("plot", epilog="Examples: zoo plot runs/tabular.diabetes/latest")
def plot_cmd(run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder holding metrics.jsonl.")) -> None:
    """(Re)draw curves.png from a run's metrics.jsonl."""
    from zoo.use.plots import plot_run

    path = plot_run(run_dir)
    out.print(f"wrote {path}")


@app.command(
    "runs",
    epilog="Examples: zoo runs; zoo runs experiments/ --json; zoo runs tune-out/ --sort val_accuracy; "
    "zoo runs | grep diabetes",
)
def runs_cmd(
    directory: Path = typer.Argument(Path("runs"), metavar="[DIR]", help="Folder to search for runs."),
    sort: Optional[str] = typer.Option(
        None,
        "--sort",
        metavar="METRIC",
        help="Best first by this logged metric (lowest first when its name ends in loss, mse, mae, error).",
    ),
    as_json: bool = json_option(),
) -> None:
    """List runs with model, date, epochs, best metric and the settings that differ between them."""
    from zoo.files.runs import find_runs, table

    runs = find_runs(directory, sort=sort)
    if as_json:
        print_json(runs)
        return
    columns, rows = table(runs, width=out.width if out.is_terminal else None)
    print_table(columns, rows, whole=("run", "status") if sort is None else ("run", "status", sort))
    if not runs:
        err.print(f"no runs under {directory}")
