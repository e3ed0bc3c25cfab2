"""The child side of ``zoo bench``: one run (or, with ``--quick``, every run) in a fresh process.

A full bench gives each run its own process, so its peak memory is its own. ``--quick``
is a smoke check, not a measurement: its runs share one process, so torch is imported
once and the check ends in seconds; their memory is not reported.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from zoo.contracts.tasks import metric_mode


def _rss_mb_now() -> float | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


def _metric_mode(metric: str, main: tuple[str, str]) -> str:
    return metric_mode(metric, main)


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    """Train one recipe as ``job`` says and measure it; runs inside the child process."""
    import contextlib
    import io

    import torch

    from zoo.errors import DataError, NeedsDataError, ZooError
    from zoo.plugins.registry import get_registry
    from zoo.training.trainer import train

    registry = get_registry()
    recipe, result = _recipe_row(registry, job)
    overrides: dict[str, Any] = {}
    if job.get("epochs"):
        overrides["epochs"] = int(job["epochs"])
    if job.get("steps"):
        batch = int(recipe.resolved()["batch_size"])
        train_cap = int(job["steps"]) * batch if batch > 0 else None
        _cap_data(registry, registry.model(job["model"]).dataset, train_cap, int(job.get("val_samples") or 0) or None)
    on_cuda = result["device"] == "cuda"
    if on_cuda:
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_mb_now() or _peak_rss_mb()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            run = train(
                job["model"],
                recipe=recipe.name,
                seed=job.get("seed", 0),
                device=job["device"],
                out=job["out"],
                quiet=True,
                data_dir=job.get("data_dir"),
                download=False,
                **overrides,
            )
    except NeedsDataError as exc:
        return {**result, "status": "skipped", "reason": f"needs your data: {exc.message}"}
    except DataError as exc:
        return {**result, "status": "skipped", "reason": exc.message}
    except ZooError as exc:
        return {**result, "status": "failed", "reason": exc.message}
    peak = _peak_rss_mb()
    result.update(
        history=[{k: v for k, v in row.items() if isinstance(v, (int, float))} for row in run.history],
        wall_seconds=run.seconds,
        peak_rss_mb=peak,
        train_rss_mb=None if peak is None or rss_before is None else max(peak - rss_before, 0.0),
        peak_device_mb=torch.cuda.max_memory_allocated() / 2**20 if on_cuda else None,
        status="ok",
    )
    return result


def _recipe_row(registry: Any, job: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The job's recipe for its device, and the start of its result row: metric, target, expected."""
    from zoo.backend import resolve_device
    from zoo.contracts.adapter import adapter_for
    from zoo.training.plan import device_kind

    spec = registry.model(job["model"])
    backend, _ = resolve_device(job["device"], registry.devices)
    recipe = spec.recipe(job["recipe"], device=device_kind(backend))
    main = adapter_for(spec).main_metric
    metric = recipe.target[0] if recipe.target else main[0]
    return recipe, {
        "device": backend.name,
        "metric": metric,
        "mode": _metric_mode(metric, main),
        "target": recipe.target[1] if recipe.target else None,
        "expected": list(recipe.expected) if recipe.expected else None,
        "recipe_epochs": int(recipe.resolved()["epochs"]),
    }


def _cap_data(registry: Any, name: str, train: int | None, val: int | None) -> None:
    """Make data set ``name`` load only the first samples of each split, in this child's registry."""
    import dataclasses

    from zoo.contracts.spec import resolve

    dataset = registry.dataset(name)
    load = resolve(dataset.loader)

    def capped(request: Any) -> Any:
        bundle = load(request)
        bundle.train = _head(bundle.train, train)
        if bundle.val is not None:
            bundle.val = _head(bundle.val, val)
        return bundle

    registry.datasets[name] = dataclasses.replace(dataset, loader=capped)


def _head(split: Any, n: int | None) -> Any:
    """The first ``n`` samples of a split (all of them when ``n`` is None or larger)."""
    from zoo.contracts.data import LoaderSplit, TensorSplit

    if n is None or len(split) <= n:
        return split
    if isinstance(split, TensorSplit):
        return TensorSplit(split.x[:n], split.y[:n])
    return LoaderSplit(split.make, n)  # batches index range(length): the first n samples


def child_main(argv: list[str]) -> None:
    """Run the job file's job, or each of its ``jobs`` in turn, and write the result(s) where it says."""
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    results = [_one(j) for j in job["jobs"]] if "jobs" in job else _one(job)
    Path(job["result"]).write_text(json.dumps(results), encoding="utf-8")


def _one(job: dict[str, Any]) -> dict[str, Any]:
    from zoo.plugins.registry import get_registry

    datasets = dict(get_registry().datasets)
    try:
        result = run_child(job)
    except Exception as exc:  # reported as a failed row, never a crash of the whole bench
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    finally:
        get_registry().datasets.update(datasets)  # a capped loader serves this job only
    if job.get("shared_process"):
        result.update(peak_rss_mb=None, train_rss_mb=None)
    return result
