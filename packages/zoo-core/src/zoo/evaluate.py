"""``zoo eval`` and ``zoo predict``: using a checkpoint after training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.adapter import ModelAdapter
from zoo.backend import resolve_device
from zoo.checkpoint import LoadedModel, load_checkpoint
from zoo.data import DataRequest
from zoo.distributed import DistEnv
from zoo.registry import get_registry
from zoo.spec import resolve


def _adapter(loaded: LoadedModel) -> ModelAdapter:
    spec = loaded.spec
    return resolve(spec.adapter)(spec) if spec.adapter else ModelAdapter(spec)


def _device(text: str) -> Any:
    backend, index = resolve_device(text, get_registry().devices)
    return backend.torch_device(index)


def evaluate_checkpoint(path: str | Path, data_dir: str | Path | None = None, device: str = "auto") -> dict[str, Any]:
    """Metrics of a checkpoint on the held-out split of the data it was trained on."""
    from zoo.trainer import default_data_dir, evaluate_split

    torch_device = _device(device)
    loaded = load_checkpoint(path, device=str(torch_device))
    meta = loaded.metadata
    registry = get_registry()
    dataset = registry.dataset(meta.get("dataset", loaded.spec.dataset))
    folder = Path(data_dir) if data_dir else Path(meta.get("data_dir") or default_data_dir())
    seed = int(meta.get("seed", 0))
    bundle = resolve(dataset.loader)(DataRequest(dict(meta.get("data_options", {})), folder, seed, True))
    split = bundle.val if bundle.val is not None else bundle.train
    hparams = meta.get("hparams", {})
    metrics = evaluate_split(
        loaded.model, _adapter(loaded), split, bundle, torch_device, int(hparams.get("batch_size", 0)), DistEnv()
    )
    metrics["split"] = "val" if bundle.val is not None else "train"
    metrics["samples"] = len(split)
    return metrics


def predict_checkpoint(
    path: str | Path, inputs: list[str], options: dict[str, Any], device: str = "cpu"
) -> list[dict[str, Any]]:
    """Predictions for command-line inputs, read the way the model's plugin reads them."""
    torch_device = _device(device)
    loaded = load_checkpoint(path, device=str(torch_device))
    adapter = _adapter(loaded)
    return adapter.predict(loaded.model, inputs, loaded.metadata.get("data_meta", {}), options, torch_device)
