"""The checks ``zoo check`` runs on each model of a plugin, in order, each building on the ones before.

One model is built, trained a step on its dataset's sample, saved and loaded, evaluated,
asked to predict its own examples through core's one predict path, exported to both
formats and served; with published weights, those are loaded by name and predict too.
Each check returns a problem in words or None; ``Skipped`` passes a check that needs an
optional extra this install lacks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from zoo.contracts.spec import ModelSpec, resolve
from zoo.plugins.registry import Registry


class Skipped(Exception):
    """A check that could not run here (an optional extra is missing): passed, with the reason shown."""


def _sample_bundle(spec: ModelSpec, registry: Registry) -> Any:
    from zoo.contracts.data import DataRequest

    dataset = registry.datasets[spec.dataset]
    loader = resolve(dataset.sample or dataset.loader)
    with tempfile.TemporaryDirectory() as folder:
        return loader(DataRequest(dict(dataset.options), Path(folder), 0, download=False))


def _check_output(spec: ModelSpec, outputs: Any, x: Any, num_classes: int | None) -> str | None:
    import torch

    from zoo.contracts.tasks import task_for

    if not isinstance(outputs, torch.Tensor):
        return f"the model returned a {type(outputs).__name__}, not a tensor"
    return task_for(spec.task).check_outputs(outputs, tuple(x.shape), num_classes)


def _results_problem(results: Any, examples: list[str]) -> str | None:
    if not isinstance(results, list) or len(results) != len(examples):
        return f"predict must return one result per input ({len(examples)}), got {results!r:.80}"
    bad = [r for r in results if not (isinstance(r, dict) and "input" in r and "output" in r)]
    return f"each result needs 'input' and 'output': {bad[0]!r:.80}" if bad else None


def _export_problems(checkpoint: Path, folder: Path) -> str | None:
    """Both formats through ``zoo export``'s own code, numeric check included; ONNX skipped without its extra."""
    import importlib.util

    from zoo.use.export import export_checkpoint
    from zoo.use.exportspec import EXPORT_EXTRA

    notes = []
    for fmt in ("pt2", "onnx"):
        if fmt == "onnx" and any(importlib.util.find_spec(m) is None for m in ("onnx", "onnxscript")):
            notes.append(f"onnx skipped ({EXPORT_EXTRA})")
            continue
        result = export_checkpoint(checkpoint, fmt, folder / f"check.{fmt}")
        if result.max_diff is None:
            notes.append(f"{fmt} written, its numeric check skipped (onnxruntime: {EXPORT_EXTRA})")
    if notes:
        raise Skipped("; ".join(notes))
    return None


def _serve_round_trip() -> Callable[[Any, str], None]:
    """``zoo.serve.check_roundtrip``, or Skipped when the serve extra is not installed."""
    from zoo.errors import UsageError
    from zoo.serve import SERVE_EXTRA, check_roundtrip, require_serve_extra

    try:
        require_serve_extra()
    except UsageError:
        raise Skipped(f"serve: skipped ({SERVE_EXTRA})") from None
    return check_roundtrip


class ModelChecks:
    """One model's checks; what a check makes (the model, a sample, the loaded checkpoint) the next ones use."""

    def __init__(self, spec: ModelSpec, registry: Registry, folder: Path) -> None:
        self.spec, self.registry, self.folder = spec, registry, folder
        self.state: dict[str, Any] = {}

    def steps(self) -> Iterator[tuple[str, Callable[[], str | None]]]:
        """(check name, function returning a problem or None), in order; later ones need earlier ones."""
        yield "references resolve", self.references
        yield "builds", self.builds
        yield "trains a step on a sample", self.trains
        if any(r.target for r in self.spec.recipes):
            yield "recipe targets name reported metrics", self.targets
        yield "save and load round-trip", self.round_trips
        yield "evaluates the sample", self.evaluates
        yield "predicts its examples", self.predicts
        yield "exports to onnx and pt2", self.exports
        yield "serves a round trip", self.serves
        if self.spec.weights:
            yield "published weights load and predict by name", self.weights

    def references(self) -> str | None:
        from zoo.contracts.adapter import ModelAdapter, adapter_for

        spec = self.spec
        resolve(spec.builder)
        adapter = self.state["adapter"] = adapter_for(spec)
        dataset = self.registry.datasets.get(spec.dataset)
        if dataset is not None:
            resolve(dataset.loader)
            if dataset.sample is not None:
                resolve(dataset.sample)
        if not isinstance(adapter, ModelAdapter):
            return "the adapter is not a ModelAdapter"
        if type(adapter).predict is not ModelAdapter.predict:
            return (
                "the adapter overrides ModelAdapter.predict, core's one predict path: "
                "define expand, transforms, predict_module or decode instead"
            )
        return None

    def builds(self) -> str | None:
        import torch

        from zoo.plugins.factory import build as build_model

        model = build_model(self.spec)
        if not isinstance(model, torch.nn.Module):
            return f"the builder returned a {type(model).__name__}, not a torch.nn.Module"
        return None

    def trains(self) -> str | None:
        import torch

        from zoo.plugins.factory import build as build_model
        from zoo.training.optim import SGD

        spec = self.spec
        bundle = _sample_bundle(spec, self.registry)
        config = {**dict(spec.config), **bundle.config}
        torch.manual_seed(0)
        model = build_model(spec, config)
        split = bundle.train
        if not hasattr(split, "x"):
            return "the sample is not a TensorSplit; declare a small in-memory sample loader"
        x, y = split.x[:8], split.y[:8]
        if bundle.transform is not None:
            x = bundle.transform(x)
        model.train()
        outputs = model(x)
        problem = _check_output(spec, outputs, x, bundle.num_classes)
        if problem:
            return problem
        loss = self.state["adapter"].loss(outputs, y)
        if loss.dim() != 0 or not bool(torch.isfinite(loss)):
            return f"the loss must be a finite scalar, got shape {tuple(loss.shape)} value {loss.detach()}"
        optimizer = SGD(model.parameters(), lr=1e-3)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        self.state.update(model=model, x=x, y=y, outputs=outputs.detach(), bundle=bundle, config=config)
        return None

    def targets(self) -> str | None:
        adapter, bundle = self.state["adapter"], self.state["bundle"]
        stats = adapter.batch_stats(self.state["outputs"], self.state["y"], bundle.num_classes)
        finals = adapter.finalize(stats)
        reported = {"loss", *(k for k, v in finals.items() if isinstance(v, (int, float)) and not isinstance(v, bool))}
        recipes = self.spec.recipes
        wrong = [f"{r.name} targets {r.target[0]!r}" for r in recipes if r.target and r.target[0] not in reported]
        return f"recipe {'; '.join(wrong)}, but evaluation reports {', '.join(sorted(reported))}" if wrong else None

    def round_trips(self) -> str | None:
        import torch

        from zoo.contracts.evalmode import run_eval
        from zoo.files.checkpoint import base_metadata, load_checkpoint, save_checkpoint

        model, x = self.state["model"], self.state["x"]
        path = self.folder / "check.safetensors"
        meta = base_metadata(self.spec, self.state["config"])
        meta["data_meta"] = self.state["bundle"].meta
        save_checkpoint(path, model, meta)
        loaded = self.state["loaded"] = load_checkpoint(path)
        before, after = run_eval(model, x), run_eval(loaded.model, x)
        if not torch.equal(before, after):
            diff = (before.float() - after.float()).abs().max().item()
            return f"outputs differ after save and load (max abs diff {diff:.3g}): state outside the state_dict?"
        return None

    def evaluates(self) -> str | None:
        import torch

        from zoo.training.distributed import DistEnv
        from zoo.use.evaluate import evaluate_split

        bundle, adapter = self.state["bundle"], self.state["adapter"]
        split = bundle.val if bundle.val is not None else bundle.train
        metrics = evaluate_split(self.state["loaded"].model, adapter, split, bundle, torch.device("cpu"), 0, DistEnv())
        main = adapter.main_metric[0]
        if main not in metrics:
            return f"evaluation reports {', '.join(sorted(metrics))} but not the main metric {main!r}"
        bad = [k for k in ("loss", main) if not isinstance(metrics[k], float) or metrics[k] != metrics[k]]
        return f"evaluation's {', '.join(bad)} is not a number: {metrics}" if bad else None

    def predicts(self) -> str | None:
        from zoo.use.predict import run_predict

        examples = self.state["adapter"].example_inputs()
        if not examples:
            return "declares no example inputs (ModelSpec.examples or the adapter's example_inputs)"
        return _results_problem(run_predict(self.state["loaded"], examples), examples)

    def exports(self) -> str | None:
        return _export_problems(self.folder / "check.safetensors", self.folder)

    def serves(self) -> str | None:
        _serve_round_trip()(self.state["loaded"], self.spec.full_name)
        return None

    def weights(self) -> str | None:
        from zoo.files.weights import open_weights
        from zoo.use.predict import run_predict

        examples = self.state["adapter"].example_inputs()
        for declared in self.spec.weights:
            loaded = open_weights(f"{self.spec.full_name}:{declared.tag}")
            problem = _results_problem(run_predict(loaded, examples), examples) if examples else None
            if problem:
                return f"{self.spec.full_name}:{declared.tag}: {problem}"
        return None
