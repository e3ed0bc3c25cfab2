"""A run's training state: its progress, and what ``last.safetensors`` holds to resume it.

``TrainProgress`` is the one object that says where a run is (epochs done, steps, the
best so far, the history, how it ended and why); only the trainer writes it, and
``to_meta`` / ``from_meta`` move it in and out of checkpoint metadata. Optimizer and scheduler state_dicts and RNG
states are split into tensors plus a JSON skeleton, so they fit beside the model
weights: tensors under a prefix, the skeleton as JSON in the metadata. Nothing is pickled.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zoo.errors import CheckpointError
from zoo.training.hparams import HParams


@dataclass
class TrainProgress:
    """Where a run is: what is saved with ``last.safetensors`` and restored on resume."""

    epochs_done: int = 0
    global_step: int = 0
    #: Batches done in the epoch under way, and their summed loss (a save in mid-epoch).
    step_in_epoch: int = 0
    partial_loss: float = 0.0
    partial_n: int = 0
    #: {"metric", "value", "epoch", "loss"} of the best epoch so far.
    best: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: When ``last`` was written (time.monotonic(), as ``SavePoints.save`` returns it); not saved.
    last_save: float = field(default_factory=time.monotonic)
    #: "finished", or the status a callback gave when it stopped the run ("stopped", "pruned"...).
    status: str = "finished"
    #: Why a callback stopped the run (None: it ran all its epochs).
    stop_reason: str | None = None

    def to_meta(self) -> dict[str, Any]:
        """The checkpoint metadata fields of this progress (``epoch`` and ``step`` included)."""
        mid = self.step_in_epoch > 0
        return {
            "epoch": self.epochs_done,
            "step": self.global_step,
            "step_in_epoch": self.step_in_epoch,
            "partial_loss": self.partial_loss if mid else 0.0,
            "partial_n": self.partial_n if mid else 0,
            "history_best": self.best,
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], path: Path, steps_per_epoch: int) -> TrainProgress:
        """The progress a ``last`` checkpoint recorded (fields already typed by the metadata schema)."""
        best = meta.get("history_best")
        progress = cls(
            epochs_done=int(meta["epoch"]),
            global_step=int(meta.get("step", 0)),
            step_in_epoch=int(meta.get("step_in_epoch", 0)),
            best=best if isinstance(best, dict) and isinstance(best.get("value"), (int, float)) else None,
        )
        if progress.step_in_epoch:
            progress.partial_loss = float(meta.get("partial_loss", 0.0))
            progress.partial_n = int(meta.get("partial_n", 0))
        if progress.step_in_epoch >= steps_per_epoch:
            raise CheckpointError(path, f"cannot resume: step {progress.step_in_epoch} is past the end of the epoch")
        return progress


def optimization_state(
    hparams: HParams, optimizer: torch.optim.Optimizer | None, scheduler: Any, scaler: Any
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer, scheduler, scaler and RNG state as tensors plus metadata fields."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    if optimizer is not None:
        found, skeleton = flatten_state("optim", optimizer.state_dict())
        tensors.update(found)
        meta["optimizer_state"] = {"optimizer": hparams.optimizer, "state": skeleton}
    if scheduler is not None:
        found, skeleton = flatten_state("sched", scheduler.state_dict())
        tensors.update(found)
        meta["scheduler_state"] = {"schedule": hparams.schedule, "state": skeleton}
    if scaler is not None:
        meta["scaler_state"] = scaler.state_dict()
    rng_tensors, rng_info = capture_rng()
    tensors.update(rng_tensors)
    meta["rng_state"] = rng_info
    return tensors, meta


def restore_optimization(
    meta: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    path: Path,
    hparams: HParams,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any,
    scaler: Any,
) -> None:
    """Put back what ``optimization_state`` saved; any damage is one CheckpointError naming ``path``."""
    try:
        if optimizer is not None:
            saved = meta.get("optimizer_state")
            if not isinstance(saved, dict) or saved.get("optimizer") != hparams.optimizer:
                raise ValueError(f"the optimizer state is not {hparams.optimizer!r} state")
            optimizer.load_state_dict(unflatten_state("optim", tensors, saved["state"]))
        if scheduler is not None:
            saved = meta.get("scheduler_state")
            if not isinstance(saved, dict) or saved.get("schedule") != hparams.schedule:
                raise ValueError(f"the scheduler state is not {hparams.schedule!r} state")
            scheduler.load_state_dict(unflatten_state("sched", tensors, saved["state"]))
        if scaler is not None and "scaler_state" in meta:
            scaler.load_state_dict(meta["scaler_state"])
        if "rng_state" in meta:
            restore_rng(tensors, meta["rng_state"])
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
        raise CheckpointError(path, f"cannot resume: saved training state is damaged ({exc})") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# Nested state as tensors + JSON
# ---------------------------------------------------------------------------------------------
#
# Skeleton encoding: None, bools, ints, strings and finite floats are themselves; everything
# else is a one-key object whose key starts with "$":
#   {"$tensor": "<key below the prefix>"}  {"$float": "inf" | "-inf" | "nan"}
#   {"$tuple": [...]}  {"$dict": [[key, value], ...]}   (keys are str or int, order kept)
# Lists are JSON arrays. A real dict is always "$dict", so a "$" key can never be mistaken.


def _join(prefix: str, relative: str) -> str:
    if not relative:
        return prefix
    return f"{prefix}/{relative}" if prefix else relative


def flatten_state(prefix: str, state: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """Split nested state into tensors keyed ``<prefix>/<path>`` and a JSON-able skeleton.

    Optimizer and scheduler state_dicts mix tensors with numbers, strings, int-keyed dicts and
    tuples; safetensors holds only tensors and strings, and nothing may be pickled. The skeleton
    records where each tensor goes and keeps int keys, tuples, and floats (inf and nan included)
    exact. Any other object is a TypeError naming its path.
    """
    tensors: dict[str, torch.Tensor] = {}

    def encode(value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if math.isfinite(value):
                return float(value)
            return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, torch.Tensor):
            relative, suffix = where, 1
            while _join(prefix, relative) in tensors:
                suffix += 1
                relative = f"{where}~{suffix}"
            tensors[_join(prefix, relative)] = value.detach()
            return {"$tensor": relative}
        if type(value) is list:
            return [encode(item, _join(where, str(index))) for index, item in enumerate(value)]
        if type(value) is tuple or type(value) is torch.Size:
            return {"$tuple": [encode(item, _join(where, str(index))) for index, item in enumerate(value)]}
        if isinstance(value, dict):
            pairs = []
            for key, item in value.items():
                if not isinstance(key, (str, int)):
                    raise TypeError(
                        f"cannot store state at {_join(prefix, where)!r}: dict key {key!r} is a "
                        f"{type(key).__name__}; only str and int keys are kept"
                    )
                plain_key = key if isinstance(key, (str, bool)) else int(key)
                pairs.append([plain_key, encode(item, _join(where, str(key)))])
            return {"$dict": pairs}
        raise TypeError(
            f"cannot store state at {_join(prefix, where)!r}: a {type(value).__name__} is not a tensor, number, "
            "string, bool, None, list, tuple or dict (nothing is pickled)"
        )

    skeleton = encode(state, "")
    return tensors, skeleton


def unflatten_state(prefix: str, tensors: Mapping[str, torch.Tensor], skeleton: Any) -> Any:
    """Rebuild the state that :func:`flatten_state` split, with tensors taken from ``tensors``.

    A tensor the skeleton names but ``tensors`` lacks, or a skeleton that is not one flatten_state
    could have made, is a ValueError naming the key, so the caller can report a damaged checkpoint.
    """

    def decode(node: Any, where: str) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [decode(item, f"{where}[{index}]") for index, item in enumerate(node)]
        if isinstance(node, dict) and len(node) == 1:
            ((tag, body),) = node.items()
            if tag == "$tensor" and isinstance(body, str):
                key = _join(prefix, body)
                if key not in tensors:
                    raise ValueError(f"tensor {key!r} named by the saved state is missing")
                return tensors[key]
            if tag == "$float" and body in ("inf", "-inf", "nan"):
                return float(body)
            if tag == "$tuple" and isinstance(body, list):
                return tuple(decode(item, f"{where}[{index}]") for index, item in enumerate(body))
            if tag == "$dict" and isinstance(body, list):
                result: dict[Any, Any] = {}
                for pair in body:
                    if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))):
                        raise ValueError(f"saved state for {prefix!r} is malformed at {where}: bad dict entry")
                    result[pair[0]] = decode(pair[1], f"{where}[{pair[0]!r}]")
                return result
        raise ValueError(f"saved state for {prefix!r} is malformed at {where or 'the top'}: {node!r:.80}")

    return decode(skeleton, "")


# ---------------------------------------------------------------------------------------------
# Random number generator state
# ---------------------------------------------------------------------------------------------

_RNG_PREFIX = "rng"


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Capture torch CPU, CUDA (when available) and Python ``random`` states for an exact resume.

    Returns tensors under ``rng/`` (``rng/torch``, ``rng/cuda/<index>``) and a JSON-able dict with
    Python's state, which is a tuple of ints and so is stored as JSON rather than as a tensor.
    """
    tensors: dict[str, torch.Tensor] = {f"{_RNG_PREFIX}/torch": torch.get_rng_state()}
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    for index, state in enumerate(cuda_states):
        tensors[f"{_RNG_PREFIX}/cuda/{index}"] = state
    version, internal, gauss_next = random.getstate()
    info: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "cuda_devices": len(cuda_states),
    }
    return tensors, info


def restore_rng(tensors: Mapping[str, torch.Tensor], info: Mapping[str, Any]) -> None:
    """Put back the states :func:`capture_rng` took, so the resumed run draws the same numbers.

    CUDA states are restored for the devices present now; a run saved on a GPU machine can still
    resume on a CPU-only one, where there is no CUDA generator to restore.
    """
    key = f"{_RNG_PREFIX}/torch"
    if key not in tensors:
        raise ValueError(f"tensor {key!r} is missing, so the random state cannot be restored")
    python = info.get("python") if isinstance(info, Mapping) else None
    if not (
        isinstance(python, Mapping)
        and _is_int(python.get("version"))
        and isinstance(python.get("state"), list)
        and all(_is_int(item) for item in python["state"])
        and (python.get("gauss_next") is None or isinstance(python.get("gauss_next"), float))
    ):
        raise ValueError("the saved Python random state is malformed")
    cuda_devices = info.get("cuda_devices", 0)
    if not _is_int(cuda_devices) or cuda_devices < 0:
        raise ValueError("the saved CUDA device count is malformed")
    for index in range(cuda_devices):
        if f"{_RNG_PREFIX}/cuda/{index}" not in tensors:
            raise ValueError(f"tensor '{_RNG_PREFIX}/cuda/{index}' is missing")

    random.setstate((python["version"], tuple(python["state"]), python["gauss_next"]))
    torch.set_rng_state(tensors[key].to(device="cpu", dtype=torch.uint8))
    if cuda_devices and torch.cuda.is_available():
        for index in range(min(cuda_devices, torch.cuda.device_count())):
            state = tensors[f"{_RNG_PREFIX}/cuda/{index}"].to(device="cpu", dtype=torch.uint8)
            torch.cuda.set_rng_state(state, device=index)
