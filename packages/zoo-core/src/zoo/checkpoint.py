"""Model checkpoints: one ``.safetensors`` file that can rebuild its model alone.

The weights live under ``model/``; ``__metadata__`` says which model, plugin and
builder config made them, how they were trained and what they scored. A ``last``
checkpoint also carries the state needed to resume (``optim/``, ``rng/`` tensors
plus JSON). Reading validates the header before anything is loaded; nothing is
ever unpickled.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import zoo
from zoo.errors import CheckpointError, UnknownModelError, UsageError
from zoo.registry import build_model, get_registry
from zoo.safefile import read_header, read_safetensors, write_safetensors
from zoo.spec import ModelSpec

FORMAT_VERSION = "1"
MODEL_PREFIX = "model/"
#: Metadata values that are JSON documents rather than plain strings.
JSON_KEYS = (
    "config",
    "hparams",
    "metrics",
    "data_meta",
    "data_options",
    "optimizer_state",
    "scheduler_state",
    "rng_state",
    "scaler_state",
    "history_best",
)


def encode_metadata(values: dict[str, Any]) -> dict[str, str]:
    """Metadata as str->str: JSON for structures, str() for scalars."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = json.dumps(value, allow_nan=True) if key in JSON_KEYS else str(value)
    return out


def decode_metadata(raw: dict[str, str], path: str | Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in JSON_KEYS:
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError:
                raise CheckpointError(path, f"metadata field {key!r} is not valid JSON") from None
        else:
            out[key] = value
    return out


def base_metadata(spec: ModelSpec, config: dict[str, Any]) -> dict[str, Any]:
    """The fields every zoo checkpoint carries, whatever wrote it."""
    return {
        "format": "zoo",
        "format_version": FORMAT_VERSION,
        "model": spec.full_name,
        "task": spec.task,
        "plugin": spec.distribution,
        "plugin_version": spec.version,
        "config": config,
        "zoo_version": zoo.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def model_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    module = getattr(model, "module", model)  # unwrap DistributedDataParallel
    return {MODEL_PREFIX + k: v.detach() for k, v in module.state_dict().items()}


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    metadata: dict[str, Any],
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> None:
    """Atomically write weights (+ optional resume tensors) and metadata."""
    tensors = model_tensors(model)
    tensors.update(extra_tensors or {})
    write_safetensors(path, tensors, encode_metadata(metadata))


@dataclass
class LoadedModel:
    """A rebuilt model with everything its checkpoint says about it."""

    model: nn.Module
    metadata: dict[str, Any]
    spec: ModelSpec
    path: Path


def read_checkpoint(path: str | Path, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Validated tensors and decoded metadata; a clear error for anything not a zoo checkpoint."""
    path = Path(path)
    tensors, raw = read_safetensors(path, device=device)
    meta = decode_metadata(raw, path)
    if meta.get("format") != "zoo":
        raise CheckpointError(path, "is a safetensors file but not a zoo checkpoint (no zoo metadata)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            path,
            f"checkpoint format {meta.get('format_version')!r} is not supported (this zoo reads {FORMAT_VERSION!r})",
            hint="upgrade zoo-core",
        )
    for key in ("model", "config"):
        if key not in meta:
            raise CheckpointError(path, f"metadata has no {key!r} field")
    return tensors, meta


def spec_for(meta: dict[str, Any], path: str | Path) -> ModelSpec:
    name = meta["model"]
    try:
        return get_registry().model(name)
    except UnknownModelError:
        plugin = meta.get("plugin", "its plugin")
        raise CheckpointError(
            path,
            f"was made by model {name!r} from {plugin} {meta.get('plugin_version', '')}, which is not installed here",
            hint=f"pip install {plugin}",
        ) from None


def restore_weights(model: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path, name: str) -> None:
    """Load ``model/`` tensors strictly; missing, extra or misshapen tensors are named."""
    state = {k[len(MODEL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append("missing tensors: " + ", ".join(missing[:5]))
    if extra:
        problems.append("unexpected tensors: " + ", ".join(extra[:5]))
    if wrong:
        problems.append("shapes do not match: " + "; ".join(wrong[:5]))
    if problems:
        raise CheckpointError(path, f"does not fit model {name!r}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def load_checkpoint(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the model a checkpoint describes, from that file alone."""
    path = Path(path)
    tensors, meta = read_checkpoint(path)
    spec = spec_for(meta, path)
    try:
        model = build_model(spec, meta["config"])
    except UsageError as exc:
        raise CheckpointError(path, f"its config cannot build {spec.full_name}: {exc.message}") from None
    restore_weights(model, tensors, path, spec.full_name)
    model.to(device).eval()
    return LoadedModel(model=model, metadata=meta, spec=spec, path=path)


def describe_checkpoint(path: str | Path) -> dict[str, Any]:
    """Metadata and tensor summary for ``zoo info``, read from the header alone."""
    entries, raw = read_header(path)
    meta = decode_metadata(raw, path)
    if meta.get("format") != "zoo":
        raise CheckpointError(path, "is a safetensors file but not a zoo checkpoint (no zoo metadata)")
    weights = {k: v for k, v in entries.items() if k.startswith(MODEL_PREFIX)}
    parameters = 0
    for entry in weights.values():
        count = 1
        for dim in entry["shape"]:
            count *= int(dim)
        parameters += count
    hidden = {"optimizer_state", "scheduler_state", "rng_state", "scaler_state"}
    info = {k: v for k, v in meta.items() if k not in hidden}
    info["tensors"] = len(weights)
    info["parameters"] = parameters
    info["resumable"] = "optimizer_state" in meta or "rng_state" in meta
    return info
