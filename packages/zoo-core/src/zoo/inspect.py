"""``zoo info NAME``: everything about a model that does not need its data."""

from __future__ import annotations

from typing import Any

from zoo.registry import Registry, build_model
from zoo.spec import resolve


def describe_model(registry: Registry, name: str) -> dict[str, Any]:
    spec = registry.model(name)
    dataset = registry.datasets.get(spec.dataset)
    parameters: int | str
    try:
        model = build_model(spec)
        parameters = sum(p.numel() for p in model.parameters())
    except Exception as exc:  # some models need their data to know their size
        parameters = f"unknown until trained ({type(exc).__name__})"
    methods: list[str] = []
    if spec.adapter is not None:
        adapter = resolve(spec.adapter)(spec)
        methods = sorted(adapter.strategies())
    return {
        "name": spec.full_name,
        "summary": spec.summary,
        "task": spec.task,
        "dataset": spec.dataset,
        "plugin": f"{spec.distribution} {spec.version}",
        "parameters": parameters,
        "input_shape": spec.input_shape or "?",
        "output_shape": spec.output_shape or "?",
        "config": dict(spec.config),
        "data_options": dict(dataset.options) if dataset else {},
        "default_recipe": spec.default_recipe,
        "recipes": [{"name": r.name, "summary": r.summary, "hparams": r.resolved()} for r in spec.recipes],
        "methods": methods,
    }
