"""``zoo export``: a checkpoint as an ONNX or pt2 file, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoo.cli.app import app, complete_model_or_weights, out
from zoo.cli.common import json_option
from zoo.use.exportspec import EXPORT_EXTRA, TOLERANCE


@app.command("export")
def export_cmd(
    ref: str = typer.Argument(
        ...,
        metavar="CKPT|RUN|NAME[:TAG]",
        help="A checkpoint, a run folder (its best checkpoint) or published weights NAME[:TAG].",
        autocompletion=complete_model_or_weights,
    ),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx or pt2 (torch.export), e.g. --format pt2."),
    output: Optional[Path] = typer.Option(
        None,
        "--output",
        "-o",
        help="File to write (default: in the current folder, the checkpoint's or model's name with .onnx or .pt2). "
        "Never the input, a symlink or a device.",
    ),
    check: bool = typer.Option(
        True, "--check/--no-check", help="Run the exported file and compare with PyTorch (default on)."
    ),
    tolerance: float = typer.Option(TOLERANCE, "--tolerance", min=0.0, help="Largest accepted max abs difference."),
    as_json: bool = json_option(),
) -> None:
    """Export a checkpoint for use outside zoo, with a dynamic batch dimension.

    Example: zoo export runs/vision.cnn/RUN/best.safetensors --format onnx -o cnn.onnx; zoo export vision.cnn
    """
    from zoo.jsonout import print_json
    from zoo.use.export import export_checkpoint

    result = export_checkpoint(ref, fmt.lower(), output, check=check, tolerance=tolerance)
    if as_json:
        print_json(result.as_dict())
        return
    out.print(f"wrote {result.path} ({result.exporter})")
    if result.meta_path:
        out.print(f"wrote {result.meta_path} (zoo metadata)")
    if result.max_diff is not None:
        out.print(f"check: max abs diff {result.max_diff:.2g} <= {result.tolerance:g}")
    elif check:
        out.print(f"check: skipped, onnxruntime is not installed ({EXPORT_EXTRA})")
