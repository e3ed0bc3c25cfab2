"""``zoo export``: a checkpoint as an ONNX or ``torch.export`` (pt2) file that runs without zoo.

The plugin's adapter supplies the example inputs and, if needed, a wrapper module;
this module only drives PyTorch's exporters, writes the metadata a consumer needs
(model, task, labels or vocabulary, preprocessing) and then runs the exported file
on a batch of a different size to prove that it agrees with PyTorch.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.adapter import ModelAdapter, adapter_for
from zoo.checkpoint import LoadedModel
from zoo.errors import UsageError, ZooError
from zoo.version import __version__

FORMATS = ("onnx", "pt2")
#: Largest absolute difference accepted between PyTorch and the exported model.
TOLERANCE = 1e-4
#: Batch size for checking: not the traced one, so a fixed batch dimension shows up.
CHECK_BATCH = 3
EXPORT_EXTRA = "pip install 'zoo-core[export]'"


class ExportError(ZooError):
    """A model that PyTorch's exporters cannot turn into the asked format."""


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


def load_ref(ref: str | Path) -> LoadedModel:
    """A served or exported model: a checkpoint, a run folder or published weights NAME[:TAG]."""
    from zoo.weights import open_weights

    return open_weights(ref, device="cpu")


def export_metadata(loaded: LoadedModel, adapter: ModelAdapter, example: torch.Tensor) -> dict[str, Any]:
    """Everything a consumer of the exported file needs to feed it and read its output."""
    meta = loaded.metadata
    data_meta = meta.get("data_meta", {})
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
        "preprocessing": adapter.preprocessing(data_meta),
        "input_form": adapter.input_form(data_meta),
    }


def export_checkpoint(
    ref: str | Path, fmt: str, out: str | Path | None = None, check: bool = True, tolerance: float = TOLERANCE
) -> ExportResult:
    """Export one checkpoint; raise ExportError when the model cannot be exported or disagrees."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint="use --format onnx or --format pt2")
    if fmt == "onnx":
        _require("onnx", "onnxscript")
    loaded = load_ref(ref)
    adapter = adapter_for(loaded.spec)
    data_meta = loaded.metadata.get("data_meta", {})
    module = adapter.export_module(loaded.model, data_meta).eval()
    example = adapter.example_batch(data_meta, 2, loaded.model)
    path = Path(out) if out else loaded.path.with_suffix(f".{fmt}")
    if path.parent and not path.parent.exists():
        raise UsageError(f"{path.parent}: no such folder", hint="create it or pick another -o FILE")
    metadata = export_metadata(loaded, adapter, example)
    if fmt == "onnx":
        exporter = _export_onnx(module, example, path, metadata)
        meta_path = None
    else:
        exporter = _export_pt2(module, example, path)
        meta_path = path.with_name(path.name + ".json")
        meta_path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    diff = _check(module, adapter, data_meta, loaded, path, fmt, tolerance) if check else None
    return ExportResult(path, meta_path, exporter, diff, tolerance)


# -- exporters ------------------------------------------------------------------
def _export_onnx(module: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, Any]) -> str:
    """The dynamo exporter first; the TorchScript one when dynamo fails."""
    failures: list[BaseException] = []
    try:
        with _quiet():
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                verbose=False,
            )
        assert program is not None
        program.save(str(path))
        exporter = "torch.onnx (dynamo)"
    except Exception as exc:  # the exporter's own error types vary by release
        failures.append(exc)
        try:
            with _quiet():
                torch.onnx.export(
                    module,
                    (example,),
                    str(path),
                    dynamo=False,
                    input_names=["input"],
                    output_names=["output"],
                    dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                )
            exporter = "torch.onnx (torchscript)"
        except Exception as second:
            failures.append(second)
            raise _failure("ONNX", failures) from None
    _add_onnx_metadata(path, metadata)
    return exporter


def _export_pt2(module: nn.Module, example: torch.Tensor, path: Path) -> str:
    try:
        with _quiet():
            program = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
            torch.export.save(program, str(path))
    except Exception as exc:
        raise _failure("pt2", [exc]) from None
    return "torch.export"


def _add_onnx_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """metadata_props: ``zoo`` holds the whole JSON; the common fields also stand alone."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    del model.metadata_props[:]
    props = {"zoo": json.dumps(metadata)}
    for key in ("model", "task", "zoo_version"):
        props[key] = str(metadata[key])
    for key in ("labels", "vocab", "preprocessing", "input"):
        if metadata.get(key):
            props[key] = json.dumps(metadata[key])
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "zoo"
    onnx.save(model, str(path))


def _failure(what: str, failures: list[BaseException]) -> ExportError:
    """One line naming the operation the exporters stumbled on, when they say which."""
    texts: list[str] = []
    for exc in failures:
        seen: BaseException | None = exc
        while seen is not None and len(texts) < 8:
            texts.append(f"{type(seen).__name__}: {seen}")
            seen = seen.__cause__ or seen.__context__
    found = re.findall(r"aten(?:::|\.)\w+", "\n".join(texts))
    ops = sorted({m.replace("::", ".").removeprefix("aten.") for m in found})
    first = next((line.strip() for t in texts for line in t.splitlines() if line.strip()), "unknown error")
    if ops:
        message = f"cannot export to {what}: operation {', '.join('aten::' + o for o in ops)} is not supported"
    else:
        message = f"cannot export to {what}: {first[:300]}"
    other = "pt2" if what == "ONNX" else "onnx"
    return ExportError(message, hint=f"try --format {other}, or change the model to avoid that operation")


@contextlib.contextmanager
def _quiet() -> Any:
    """The exporters print progress and warnings; zoo prints its own one-line result."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


# -- checking -------------------------------------------------------------------
def _check(
    module: nn.Module,
    adapter: ModelAdapter,
    data_meta: dict[str, Any],
    loaded: LoadedModel,
    path: Path,
    fmt: str,
    tolerance: float,
) -> float | None:
    """Max abs difference between PyTorch and the exported file on a fresh batch; None if unchecked."""
    x = adapter.example_batch(data_meta, CHECK_BATCH, loaded.model)
    with torch.no_grad():
        expected = module(x).float()
    if fmt == "onnx":
        if importlib.util.find_spec("onnxruntime") is None:
            return None
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        got = torch.from_numpy(session.run(None, {name: x.numpy()})[0]).float()
    else:
        with _quiet(), torch.no_grad():
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
