"""PyTorch's exporters driven for ``zoo export``: ONNX (dynamo, else TorchScript) and ``torch.export`` (pt2).

Their progress output is silenced (zoo prints one line of its own) and their many error
types become one ``ExportError`` naming the operation they stumbled on, when they say.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.errors import ZooError


class ExportError(ZooError):
    """A model that PyTorch's exporters cannot turn into the asked format."""


def export_onnx(module: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, Any]) -> str:
    """The dynamo exporter first; the TorchScript one when dynamo fails."""
    failures: list[BaseException] = []
    try:
        with quiet():
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
    except OSError:
        raise  # the disk, not the model: reported as a write error
    except Exception as exc:  # the exporter's own error types vary by release
        failures.append(exc)
        try:
            with quiet():
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
        except OSError:
            raise
        except Exception as second:
            failures.append(second)
            raise _failure("ONNX", failures) from None
    _add_onnx_metadata(path, metadata)
    return exporter


def export_pt2(module: nn.Module, example: torch.Tensor, path: Path) -> str:
    """``torch.export`` with a dynamic batch dimension, saved as a pt2 archive."""
    try:
        with quiet():
            program = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
            torch.export.save(program, str(path))
    except OSError:
        raise
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
def quiet() -> Any:
    """The exporters print progress and warnings; zoo prints its own one-line result."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield
