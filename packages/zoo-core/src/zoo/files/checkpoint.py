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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.contracts import metadata
from zoo.contracts.spec import ModelSpec, resolve
from zoo.errors import CheckpointError, TrainingError, UnknownModelError, UsageError, ZooError
from zoo.files import buildlimit
from zoo.files.buildlimit import BuildLimitError, bounded_build, checkpoint_limit
from zoo.files.safefile import read_header, read_safetensors, write_safetensors
from zoo.plugins import local as localplugins
from zoo.plugins.meta import check_plugin_metadata
from zoo.plugins.registry import get_registry
from zoo.use.loaded import LoadedModel
from zoo.version import __version__

MODEL_PREFIX = "model/"


def decode_metadata(raw: dict[str, str], path: str | Path) -> dict[str, Any]:
    """Typed metadata of a zoo checkpoint; a clear error for anything else."""
    meta = metadata.decode(raw, path)
    metadata.check_zoo(meta, path)
    return meta


def base_metadata(spec: ModelSpec, config: dict[str, Any]) -> dict[str, Any]:
    """The fields every zoo checkpoint carries, whatever wrote it."""
    return {
        "format": "zoo",
        "format_version": metadata.FORMAT_VERSION,
        "model": spec.full_name,
        "task": spec.task,
        "plugin": spec.distribution,
        "plugin_version": spec.version,
        "config": config,
        "zoo_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "builder": localplugins.builder_ref(spec),  # a module from the user's own code: what rebuilds it
    }


def model_tensors(model: nn.Module | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``model/`` tensors of a module (DDP unwrapped) or of a state_dict kept aside."""
    if isinstance(model, dict):
        return {MODEL_PREFIX + k: v.detach() for k, v in model.items()}
    module = getattr(model, "module", model)  # unwrap DistributedDataParallel
    return {MODEL_PREFIX + k: v.detach() for k, v in module.state_dict().items()}


def non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors holding inf or nan."""
    return [
        name
        for name, t in tensors.items()
        if (t.is_floating_point() or t.is_complex()) and t.numel() and not bool(torch.isfinite(t).all())
    ]


def save_checkpoint(
    path: str | Path,
    model: nn.Module | dict[str, torch.Tensor],
    meta: dict[str, Any],
    extra_tensors: dict[str, torch.Tensor] | None = None,
    durable: bool = True,
    check: Callable[[Path], object] | None = None,
) -> None:
    """Atomically write weights (+ optional resume tensors) and metadata.

    Weights holding inf or nan are never written: such a file would load and then
    answer nonsense, so refusing here keeps every checkpoint on disk usable. The new file's
    header and metadata are read back (and ``check`` run on it, ``zoo.save`` loads it whole)
    before it is renamed over ``path``, so a file that cannot be read never replaces one that can.
    """
    tensors = model_tensors(model)
    bad = non_finite(tensors)
    if bad:
        raise TrainingError(
            f"not saving {path}: weights {', '.join(n[len(MODEL_PREFIX) :] for n in bad[:3])} are not finite"
        )
    tensors.update(extra_tensors or {})
    try:
        write_safetensors(path, tensors, metadata.encode(meta), durable=durable, check=_read_back(path, check))
    except OSError as exc:  # disk full, folder gone: the previous file is still intact
        raise TrainingError(
            f"cannot write {path}: {exc.strerror or exc}", hint="the previous checkpoint there, if any, is intact"
        ) from None


def _read_back(final: str | Path, check: Callable[[Path], object] | None) -> Callable[[Path], None]:
    """A check of the temporary file whose errors name ``final``, the file the user asked for."""

    def run(temp: Path) -> None:
        try:
            _, raw = read_header(temp)
            decode_metadata(raw, temp)
            if check is not None:
                check(temp)
        except ZooError as exc:
            exc.message = exc.message.replace(str(temp), str(final)) + " (not saved; a file already there is unchanged)"
            exc.args = (exc.message,)
            raise

    return run


def read_checkpoint(path: str | Path, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Validated tensors and typed metadata; a clear error for anything not a zoo checkpoint."""
    path = Path(path)
    _, raw = read_header(path)
    meta = decode_metadata(raw, path)  # checked before a single tensor is loaded
    tensors, _ = read_safetensors(path, device=device)
    return tensors, meta


def spec_for(meta: dict[str, Any], path: str | Path) -> ModelSpec:
    own = localplugins.rebuilt_spec(meta, path)  # zoo.fit / zoo.save(builder=): its recorded builder rebuilds it
    if own is not None:
        return own
    name = meta["model"]
    try:
        return get_registry().model(name)
    except UnknownModelError:
        localplugins.check_rebuildable(meta, path)  # zoo.fit without a builder: how to load it
        plugin = meta.get("plugin", "its plugin")
        raise CheckpointError(
            path,
            f"was made by model {name!r} from {plugin} {meta.get('plugin_version', '')}, which is not installed here",
            hint=f"pip install {plugin}",
        ) from None


def restore_weights(
    model: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path, name: str, assign: bool = True
) -> None:
    """Load ``model/`` tensors strictly; missing, extra or misshapen tensors are named.

    With ``assign=False`` only the names and shapes are checked.
    """
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
    if assign:
        model.load_state_dict(state, strict=True)


def build_checked(spec: ModelSpec, config: dict[str, Any], tensors: dict[str, torch.Tensor], path: Path) -> nn.Module:
    """Build the model a checkpoint describes, after proving its config fits the stored tensors.

    The config comes from the file, so it is built first on the meta device (no memory
    is allocated): a config that asks for huge layers fails on the shape check, not
    after gigabytes were allocated.
    """
    builder = resolve(spec.builder)
    arguments = {**dict(spec.config), **config}  # the spec's defaults, then the file's own
    stored = sum(1 for name in tensors if name.startswith(MODEL_PREFIX))
    try:
        with torch.device("meta"), bounded_build(checkpoint_limit(stored)):
            shell = builder(**arguments)
        restore_weights(shell, tensors, path, spec.full_name, assign=False)
        model = builder(**arguments)
    except CheckpointError:
        raise
    except BuildLimitError as exc:
        shown = json.dumps(config, default=str)
        raise CheckpointError(
            path,
            f"its config asks {spec.full_name} for more than {exc.limit:,} parameters, buffers and submodules, "
            f"but the file holds {stored} tensors (build limit: {buildlimit.SLACK} plus {buildlimit.PER_TENSOR} "
            f"per stored tensor); config {shown:.120}",
            hint="the config does not match the weights; the file is damaged or was not written by zoo",
        ) from None
    except UsageError as exc:
        raise CheckpointError(path, f"its config cannot build {spec.full_name}: {exc.message}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(path, f"its config cannot build {spec.full_name}: {exc}") from None
    return model


def load_checkpoint(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the model a checkpoint describes, from that file alone."""
    path = Path(path)
    tensors, meta = read_checkpoint(path)
    spec = spec_for(meta, path)
    model = build_checked(spec, meta["config"], tensors, path)
    restore_weights(model, tensors, path, spec.full_name)
    check_plugin_metadata(spec, meta, path)
    model.to(device).eval()
    return LoadedModel(model=model, metadata=meta, spec=spec, path=path)


def describe_checkpoint(path: str | Path) -> dict[str, Any]:
    """Metadata and tensor summary for ``zoo info``, read from the header alone."""
    entries, raw = read_header(path)
    meta = decode_metadata(raw, path)
    weights = {k: v for k, v in entries.items() if k.startswith(MODEL_PREFIX)}
    parameters = 0
    for entry in weights.values():
        count = 1
        for dim in entry["shape"]:
            count *= int(dim)
        parameters += count
    hidden = set(metadata.TRAINING_STATE)
    info = {k: v for k, v in meta.items() if k not in hidden}
    info["tensors"] = len(weights)
    info["parameters"] = parameters
    info["resumable"] = "optimizer_state" in meta or "rng_state" in meta
    return info
