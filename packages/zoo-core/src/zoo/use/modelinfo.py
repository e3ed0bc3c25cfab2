"""``zoo info NAME``: everything about a model that does not need its data."""

from __future__ import annotations

from typing import Any

from zoo.contracts.adapter import adapter_for
from zoo.contracts.spec import Weights
from zoo.plugins.factory import build as build_model
from zoo.plugins.registry import Registry


def describe_model(registry: Registry, name: str) -> dict[str, Any]:
    spec = registry.model(name)
    dataset = registry.datasets.get(spec.dataset)
    parameters: int | str
    try:
        model = build_model(spec)
        parameters = sum(p.numel() for p in model.parameters())
    except Exception as exc:  # some models need their data to know their size
        parameters = f"unknown until trained ({type(exc).__name__})"
    adapter = adapter_for(spec)
    methods = sorted(adapter.strategies())
    return {
        "name": spec.full_name,
        "summary": spec.summary,
        "task": spec.task,
        # what --metric may choose, where a recipe declares it; the first is the default main metric
        "metrics": [adapter.main_metric[0]]
        + [
            m
            for m in (*adapter.task_type.metric_names, *getattr(adapter, "extra_metrics", ()))
            if m != adapter.main_metric[0]
        ],
        "dataset": spec.dataset,
        "plugin": f"{spec.distribution} {spec.version}",
        "parameters": parameters,
        "input_shape": spec.input_shape or "?",
        "output_shape": spec.output_shape or "?",
        "config": dict(spec.config),
        "data_options": dict(dataset.options) if dataset else {},
        "default_recipe": spec.default_recipe,
        "recipes": [
            {
                "name": r.name,
                "summary": r.summary,
                "device": r.device,
                "target": list(r.target) if r.target else None,
                "expected": list(r.expected) if r.expected else None,
                "hparams": r.resolved(),
                "space": dict(r.space),
            }
            for r in spec.recipes
        ],
        "methods": methods,
        "predict_options": [
            {"name": o.name, "flag": o.flag, "type": o.type_name, "default": o.default, "help": o.help}
            for o in spec.predict_options
        ],
        "examples": list(spec.examples),
        "weights": [weights_info(w) for w in spec.weights],
    }


def weights_info(w: Weights) -> dict[str, Any]:
    """A weight set's provenance, as ``zoo weights`` and ``zoo info`` show it."""
    return {
        "tag": w.tag,
        "metric": w.metric,
        "value": w.value,
        "dataset": w.dataset,
        "split": w.split,
        "recipe": w.recipe,
        "command": w.command,
        "seed": w.seed,
        "train_seconds": w.train_seconds,
        "device": w.device,
        "machine": w.machine,
        "size": w.size,
        "sha256": w.sha256,
        "file": w.file,
    }
