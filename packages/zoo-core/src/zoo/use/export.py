"""``zoo export``: a checkpoint as an ONNX or ``torch.export`` (pt2) file that runs without zoo.

The plugin's adapter supplies the example inputs and, if needed, a wrapper module;
this module only drives PyTorch's exporters, writes the metadata a consumer needs
(model, task, labels or vocabulary, preprocessing) and then runs the exported file
on a batch of a different size to prove that it agrees with PyTorch.

The output is checked before anything is exported (never an input, a symlink, a
folder or a device) and written to a temporary file beside it that replaces it only
when complete. The example inputs' size, which the checkpoint's ``data_meta`` decides,
is measured on the meta device first and bounded by ``MAX_EXAMPLE_BYTES``.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.contracts.adapter import ModelAdapter, adapter_for
from zoo.contracts.pipeline import forward
from zoo.errors import CheckpointError, UsageError, ZooError
from zoo.files.outpath import atomic_output, check_output
from zoo.files.weights import checkpoint_file, open_weights
from zoo.plugins.meta import plugin_call
from zoo.use.exporters import ExportError, export_onnx, export_pt2, quiet
from zoo.use.exportspec import CHECK_BATCH, EXPORT_EXTRA, FORMATS, TOLERANCE
from zoo.use.loaded import LoadedModel
from zoo.version import __version__

__all__ = ["ExportError", "ExportResult", "example_batch", "export_checkpoint", "export_metadata"]

#: Largest example batch (trace or check) export builds from a checkpoint's data_meta, in bytes.
MAX_EXAMPLE_BYTES = 256 << 20


@dataclass
class ExportResult:
    """What was written and how well the exported file agrees with PyTorch."""

    path: Path
    meta_path: Path | None
    exporter: str
    max_diff: float | None
    tolerance: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "metadata": str(self.meta_path) if self.meta_path else None,
            "exporter": self.exporter,
            "max_abs_diff": self.max_diff,
            "tolerance": self.tolerance,
        }


def default_output(ref: str | Path, source: Path, fmt: str) -> Path:
    """In the current folder, never beside the input: the checkpoint's name, or NAME[-TAG] for weights.

    A run folder's checkpoints are all called best/last, so a run exports under its model's name.
    """
    from zoo.files.weights import DEFAULT_TAG, looks_like_path

    if looks_like_path(ref):
        if Path(ref).is_dir():
            from zoo.files.safefile import read_header

            model = read_header(source)[1].get("model", "")
            stem = model if re.fullmatch(r"[\w.-]+", model) else source.stem
            return Path(f"{stem}.{fmt}")
        return Path(f"{source.stem}.{fmt}")
    name, _, tag = str(ref).partition(":")
    return Path(f"{name}{'' if tag in ('', DEFAULT_TAG) else '-' + tag}.{fmt}")


def export_metadata(loaded: LoadedModel, adapter: ModelAdapter, example: torch.Tensor) -> dict[str, Any]:
    """Everything a consumer of the exported file needs to feed it and read its output."""
    meta = loaded.metadata
    data_meta = meta.get("data_meta", {})
    preprocessing = plugin_call(loaded.path, loaded.spec, "preprocessing", lambda: adapter.preprocessing(data_meta))
    form = plugin_call(loaded.path, loaded.spec, "input_form", lambda: adapter.input_form(data_meta))
    return {
        "format": "zoo-export",
        "model": loaded.spec.full_name,
        "task": loaded.spec.task,
        "plugin": meta.get("plugin", loaded.spec.distribution),
        "plugin_version": meta.get("plugin_version", ""),
        "zoo_version": __version__,
        "checkpoint": loaded.path.name,
        "config": meta.get("config", {}),
        "input": {
            "name": "input",
            "shape": ["batch", *example.shape[1:]],
            "dtype": str(example.dtype).removeprefix("torch."),
            "description": loaded.spec.input_shape,
        },
        "output": {"name": "output", "description": loaded.spec.output_shape},
        "labels": data_meta.get("classes"),
        "vocab": data_meta.get("vocab"),
        "preprocessing": preprocessing,
        "input_form": form,
    }


def example_batch(adapter: ModelAdapter, loaded: LoadedModel, batch: int) -> torch.Tensor:
    """The adapter's example inputs, after their size was measured on the meta device and bounded.

    A plugin whose ``example_batch`` cannot run on the meta device is simply called; its
    failures, like every plugin failure on this checkpoint's metadata, name the file.
    """
    data_meta = loaded.metadata.get("data_meta", {})
    try:
        with torch.device("meta"):
            shape_only = adapter.example_batch(data_meta, batch, loaded.model)
    except ZooError:
        raise
    except Exception:  # not every plugin's code runs on the meta device
        shape_only = None
    if isinstance(shape_only, torch.Tensor):
        size = shape_only.numel() * shape_only.element_size()
        if size > MAX_EXAMPLE_BYTES:
            raise CheckpointError(
                loaded.path,
                f"its data_meta asks for example inputs of shape {tuple(shape_only.shape)} ({size / 2**20:,.0f} MiB), "
                f"more than the {MAX_EXAMPLE_BYTES >> 20} MiB limit for an export's example batch",
                hint="data_meta (an image size, a sequence length, a feature count) is damaged",
            )
    return plugin_call(
        loaded.path, loaded.spec, "example_batch", lambda: adapter.example_batch(data_meta, batch, loaded.model)
    )


def export_checkpoint(
    ref: str | Path, fmt: str, out: str | Path | None = None, check: bool = True, tolerance: float = TOLERANCE
) -> ExportResult:
    """Export one checkpoint; raise ExportError when the model cannot be exported or disagrees."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint="use --format onnx or --format pt2")
    if fmt == "onnx":
        _require("onnx", "onnxscript")
    source = checkpoint_file(ref)
    path = check_output(out if out else default_output(ref, source, fmt), inputs=[source])
    meta_path = check_output(path.with_name(path.name + ".json"), inputs=[source]) if fmt == "pt2" else None
    loaded = open_weights(ref, path=source)
    adapter = adapter_for(loaded.spec)
    data_meta = loaded.metadata.get("data_meta", {})
    module = plugin_call(source, loaded.spec, "export_module", lambda: adapter.export_module(loaded.model, data_meta))
    module = module.eval()
    example = example_batch(adapter, loaded, 2)
    metadata = export_metadata(loaded, adapter, example)
    try:
        with atomic_output(path, suffix=f".{fmt}") as temp:
            if fmt == "onnx":
                exporter = export_onnx(module, example, temp, metadata)
            else:
                exporter = export_pt2(module, example, temp)
            if meta_path is not None:
                with atomic_output(meta_path) as meta_temp:
                    meta_temp.write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot be written: {exc.strerror or exc}", hint="free some space or give another -o FILE"
        ) from None
    diff = _check(module, adapter, loaded, path, fmt, tolerance) if check else None
    return ExportResult(path, meta_path, exporter, diff, tolerance)


# -- checking -------------------------------------------------------------------
def _check(
    module: nn.Module,
    adapter: ModelAdapter,
    loaded: LoadedModel,
    path: Path,
    fmt: str,
    tolerance: float,
) -> float | None:
    """Max abs difference between PyTorch and the exported file on a fresh batch; None if unchecked."""
    x = example_batch(adapter, loaded, CHECK_BATCH)
    expected = forward(module, x).float()
    if fmt == "onnx":
        if importlib.util.find_spec("onnxruntime") is None:
            return None
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        got = torch.from_numpy(session.run(None, {name: x.numpy()})[0]).float()
    else:
        with quiet(), torch.no_grad():
            got = torch.export.load(str(path)).module()(x).float()
    if got.shape != expected.shape:
        raise ExportError(f"the exported model returns shape {tuple(got.shape)}, PyTorch {tuple(expected.shape)}")
    diff = float((got - expected).abs().max()) if got.numel() else 0.0
    if not diff <= tolerance:
        raise ExportError(
            f"the exported model disagrees with PyTorch: max abs diff {diff:.2g} > {tolerance:g}",
            hint="the file was written but should not be trusted",
        )
    return diff


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"ONNX export needs {', '.join(missing)}, which is not installed", hint=EXPORT_EXTRA)
