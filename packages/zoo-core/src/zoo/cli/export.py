"""``zoo export``: a checkpoint as an ONNX or pt2 file, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoo.cli.app import app, out, print_json


@app.command("export")
def export_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint, e.g. runs/vision.cnn/RUN/best.safetensors."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx or pt2 (torch.export), e.g. --format pt2."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="File to write (default: the checkpoint's name with .onnx or .pt2)."
    ),
    check: bool = typer.Option(
        True, "--check/--no-check", help="Run the exported file and compare with PyTorch (default on)."
    ),
    tolerance: float = typer.Option(1e-4, "--tolerance", min=0.0, help="Largest accepted max abs difference."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export a checkpoint for use outside zoo, with a dynamic batch dimension.

    Example: zoo export runs/vision.cnn/RUN/best.safetensors --format onnx -o cnn.onnx
    """
    from zoo.export import export_checkpoint

    result = export_checkpoint(checkpoint, fmt.lower(), output, check=check, tolerance=tolerance)
    if as_json:
        print_json(result.as_dict())
        return
    out.print(f"wrote {result.path} ({result.exporter})")
    if result.meta_path:
        out.print(f"wrote {result.meta_path} (zoo metadata)")
    if result.max_diff is not None:
        out.print(f"check: max abs diff {result.max_diff:.2g} <= {result.tolerance:g}")
    elif check:
        out.print("check: skipped, onnxruntime is not installed (pip install 'zoo-core[export]')")
