"""The plugin conformance kit: the checks ``zoo check`` runs, importable for a plugin's own tests.

A plugin that passes these works with every zoo command: it registers without torch,
its references resolve, each model builds, trains a step on a sample of its data,
round-trips through a real safetensors file, evaluates the sample, predicts its own
example inputs (and, with published weights, by name), exports to ONNX and pt2 with the
numeric check and answers every serve route in-process. A check whose optional extra
(export, serve) is missing passes and says what to install.
In a plugin's test suite::

    from zoo.testing import assert_plugin_ok

    def test_conformance():
        assert_plugin_ok("hello")
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zoo.contracts.spec import ModelSpec, Option, resolve
from zoo.errors import ZooError
from zoo.plugins.registry import Registry, get_registry

#: Python types an option's ``kind`` promises.
KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "str": (str,),
    "path": (str,),
}


@dataclass
class CheckResult:
    """One check of one plugin (and model, when it is about a model)."""

    plugin: str
    model: str
    check: str
    ok: bool
    message: str = ""


_NO_TORCH = """
import json, os, sys
from zoo.plugins.registry import get_registry
registry = get_registry()
info = [p for p in registry.plugins if p.name == sys.argv[1]]
print(json.dumps({"torch": "torch" in sys.modules, "status": info[0].status if info else "missing",
                  "error": info[0].error if info else None}))
"""


def _registers_without_torch(plugin: str) -> str | None:
    """Load only this plugin in a fresh interpreter; None when it registered without torch."""
    import os

    env = {**os.environ, "ZOO_LOAD_PLUGINS": plugin, "ZOO_STRICT_PLUGINS": ""}
    done = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, plugin], capture_output=True, text=True, env=env, timeout=120
    )
    if done.returncode != 0:
        return f"loading it in a fresh interpreter failed: {done.stderr.strip().splitlines()[-1:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["status"] != "ok":
        return f"it is broken: {report['error']}"
    if report["torch"]:
        return "registering it imports torch (zoo list must stay instant): import torch inside builders only"
    return None


def _option_problems(options: tuple[Option, ...]) -> list[str]:
    problems = []
    for option in options:
        if not option.name.isidentifier():
            problems.append(f"option name {option.name!r} is not an identifier")
        if not option.help:
            problems.append(f"option {option.flag} has no help text")
        if option.kind and option.kind not in KINDS:
            problems.append(f"option {option.flag} has unknown kind {option.kind!r} ({', '.join(KINDS)})")
        elif option.kind and option.default is not None:
            wanted = KINDS[option.kind]
            if not isinstance(option.default, wanted) or (option.kind != "bool" and isinstance(option.default, bool)):
                problems.append(
                    f"option {option.flag} is declared {option.kind} but its default {option.default!r} "
                    f"is a {type(option.default).__name__}"
                )
    return problems


def _metadata_problems(spec: ModelSpec, registry: Registry) -> list[str]:
    from zoo.training.hparams import HParams

    problems = []
    if not spec.summary.strip():
        problems.append("no summary")
    if not spec.input_shape or not spec.output_shape:
        problems.append("input_shape and output_shape should say what goes in and comes out")
    if spec.dataset not in registry.datasets:
        problems.append(f"dataset {spec.dataset!r} is not registered")
    for recipe in spec.recipes:
        if not recipe.summary.strip():
            problems.append(f"recipe {recipe.name!r} has no summary")
        try:
            HParams.from_dict(recipe.resolved())
        except ZooError as exc:
            problems.append(f"recipe {recipe.name!r}: {exc.message}")
    problems += _option_problems(spec.predict_options)
    return problems


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


class Skipped(Exception):
    """A check that could not run here (an optional extra is missing): passed, with the reason shown."""


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


def _model_checks(spec: ModelSpec, registry: Registry, folder: Path) -> Iterator[tuple[str, Callable[[], str | None]]]:
    """(check name, function returning a problem or None), in order; later ones need earlier ones.

    ``folder`` is a scratch folder for this model's files (checkpoint, exports).
    """
    import torch

    from zoo.contracts.adapter import ModelAdapter, adapter_for
    from zoo.files.checkpoint import base_metadata, load_checkpoint, save_checkpoint
    from zoo.plugins.registry import build_model
    from zoo.training.optim import SGD
    from zoo.use.predict import run_predict

    state: dict[str, Any] = {}

    def references() -> str | None:
        resolve(spec.builder)
        state["adapter"] = adapter_for(spec)
        dataset = registry.datasets.get(spec.dataset)
        if dataset is not None:
            resolve(dataset.loader)
            if dataset.sample is not None:
                resolve(dataset.sample)
        return None if isinstance(state["adapter"], ModelAdapter) else "the adapter is not a ModelAdapter"

    def builds() -> str | None:
        model = build_model(spec)
        if not isinstance(model, torch.nn.Module):
            return f"the builder returned a {type(model).__name__}, not a torch.nn.Module"
        return None

    def trains() -> str | None:
        bundle = _sample_bundle(spec, registry)
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
        adapter = state["adapter"]
        loss = adapter.loss(outputs, y)
        if loss.dim() != 0 or not bool(torch.isfinite(loss)):
            return f"the loss must be a finite scalar, got shape {tuple(loss.shape)} value {loss.detach()}"
        optimizer = SGD(model.parameters(), lr=1e-3)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state.update(model=model, x=x, y=y, outputs=outputs.detach(), bundle=bundle, config=config)
        return None

    def targets() -> str | None:
        adapter, bundle = state["adapter"], state["bundle"]
        stats = adapter.batch_stats(state["outputs"], state["y"], bundle.num_classes)
        finals = adapter.finalize(stats)
        reported = {"loss", *(k for k, v in finals.items() if isinstance(v, (int, float)) and not isinstance(v, bool))}
        wrong = [f"{r.name} targets {r.target[0]!r}" for r in spec.recipes if r.target and r.target[0] not in reported]
        return f"recipe {'; '.join(wrong)}, but evaluation reports {', '.join(sorted(reported))}" if wrong else None

    def round_trips() -> str | None:
        model, x = state["model"], state["x"]
        model.eval()
        path = folder / "check.safetensors"
        meta = base_metadata(spec, state["config"])
        meta["data_meta"] = state["bundle"].meta
        save_checkpoint(path, model, meta)
        loaded = load_checkpoint(path)
        state["loaded"] = loaded
        with torch.no_grad():
            before, after = model(x), loaded.model(x)
        if not torch.equal(before, after):
            diff = (before.float() - after.float()).abs().max().item()
            return f"outputs differ after save and load (max abs diff {diff:.3g}): state outside the state_dict?"
        return None

    def evaluates() -> str | None:
        from zoo.training.distributed import DistEnv
        from zoo.use.evaluate import evaluate_split

        bundle = state["bundle"]
        split = bundle.val if bundle.val is not None else bundle.train
        metrics = evaluate_split(
            state["loaded"].model, state["adapter"], split, bundle, torch.device("cpu"), 0, DistEnv()
        )
        main = state["adapter"].main_metric[0]
        if main not in metrics:
            return f"evaluation reports {', '.join(sorted(metrics))} but not the main metric {main!r}"
        bad = [k for k in ("loss", main) if not isinstance(metrics[k], float) or metrics[k] != metrics[k]]
        return f"evaluation's {', '.join(bad)} is not a number: {metrics}" if bad else None

    def predicts() -> str | None:
        examples = state["adapter"].example_inputs()
        if not examples:
            return "declares no example inputs (ModelSpec.examples or the adapter's example_inputs)"
        return _results_problem(run_predict(state["loaded"], examples), examples)

    def exports() -> str | None:
        return _export_problems(folder / "check.safetensors", folder)

    def serves() -> str | None:
        _serve_round_trip()(state["loaded"], spec.full_name)
        return None

    def weights() -> str | None:
        from zoo.files.weights import open_weights

        for declared in spec.weights:
            loaded = open_weights(f"{spec.full_name}:{declared.tag}")
            examples = adapter_for(spec).example_inputs()
            problem = _results_problem(run_predict(loaded, examples), examples) if examples else None
            if problem:
                return f"{spec.full_name}:{declared.tag}: {problem}"
        return None

    yield "references resolve", references
    yield "builds", builds
    yield "trains a step on a sample", trains
    if any(r.target for r in spec.recipes):
        yield "recipe targets name reported metrics", targets
    yield "save and load round-trip", round_trips
    yield "evaluates the sample", evaluates
    yield "predicts its examples", predicts
    yield "exports to onnx and pt2", exports
    yield "serves a round trip", serves
    if spec.weights:
        yield "published weights load and predict by name", weights


def check_plugin(plugin: str) -> list[CheckResult]:
    """Every check for one installed plugin (by namespace or distribution name)."""
    registry = get_registry()
    infos = [p for p in registry.plugins if plugin in (p.name, p.distribution) and p.name != "core"]
    if not infos:
        return [CheckResult(plugin, "", "is installed", False, "no such plugin is installed (see zoo plugins)")]
    results: list[CheckResult] = []
    for info in infos:
        problem = _registers_without_torch(info.name)
        results.append(CheckResult(info.name, "", "registers without torch", problem is None, problem or ""))
        if info.status != "ok":
            continue
        for name in info.models:
            spec = registry.models.get(name)
            if spec is None:
                results.append(CheckResult(info.name, name, "is usable", False, "unusable (a name conflict?)"))
                continue
            problems = _metadata_problems(spec, registry)
            results.append(CheckResult(info.name, name, "metadata is complete", not problems, "; ".join(problems)))
            with tempfile.TemporaryDirectory(prefix="zoo-check-") as scratch:
                results += _run_model_checks(info.name, spec, registry, Path(scratch))
    return results


def _run_model_checks(plugin: str, spec: ModelSpec, registry: Registry, folder: Path) -> list[CheckResult]:
    results = []
    for check, run in _model_checks(spec, registry, folder):
        try:
            problem = run()
        except Skipped as skipped:
            results.append(CheckResult(plugin, spec.full_name, check, True, str(skipped)))
            continue
        except Exception as exc:  # a plugin bug of any kind is a failed check, not a crash
            problem = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        results.append(CheckResult(plugin, spec.full_name, check, problem is None, problem or ""))
        if problem is not None:
            break  # later checks build on this one
    return results


def installed_plugins() -> list[str]:
    return [p.name for p in get_registry().plugins if p.name != "core"]


def assert_plugin_ok(plugin: str) -> None:
    """For a plugin's pytest suite: fail with every problem listed."""
    failed = [r for r in check_plugin(plugin) if not r.ok]
    if failed:
        lines = [f"{r.model or r.plugin}: {r.check}: {r.message}" for r in failed]
        raise AssertionError(f"plugin {plugin!r} fails zoo check:\n" + "\n".join(lines))


def as_json(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
