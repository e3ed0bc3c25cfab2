"""``zoo bench``: run each model's golden recipe beside the notes' own, and judge the results.

Every run is a real ``zoo.training.trainer.train`` call in a fresh Python process, so each one
has its own peak resident memory (``ru_maxrss``) and its own CUDA peak, and one run
cannot warm caches or leak memory into the next. The child writes one JSON result to a
file; the parent turns the results into rows:

- time to target: the sum of the run's epoch ``seconds`` up to the first epoch whose
  ``val_<metric>`` reaches the recipe's ``target`` (data loading and setup excluded);
- the final metric, checked against the recipe's ``expected`` range (accuracy does not
  depend on the machine, so this flags an accuracy regression anywhere);
- the median of the epochs' samples/s, and, with a baseline file from an earlier
  ``zoo bench --json`` on the same machine, a flag when a run got slower than the
  tolerance allows (speed only compares on one machine);
- the speed-up of the golden recipe over the notes' recipe to the same target, a ratio
  that carries from one machine to another far better than seconds do.

A model whose data cannot be had offline, or that trains only on the user's own data,
is reported as skipped, with the reason. ``--quick`` is a smoke check: every run in one
child process (``zoo.training.benchchild``), at most two short epochs each, no memory figures.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The notes' own recipe, run beside the golden one where a model has it.
NOTES_RECIPE = "seed"
#: What each child process runs.
CHILD = "import sys; from zoo.training.benchchild import child_main; child_main(sys.argv[1:])"
#: A ``--quick`` run: at most this many epochs of at most QUICK_STEPS optimizer steps each
#: (the training split cut to QUICK_STEPS batches of the recipe's size), evaluated on at
#: most QUICK_VAL samples. A smoke check that every model trains, not a measurement.
QUICK_EPOCHS = 2
QUICK_STEPS = 25
QUICK_VAL = 1000


@dataclass
class BenchRow:
    """One (model, recipe) run and what became of it."""

    model: str
    recipe: str
    role: str  # "golden" or "notes"
    status: str = "ok"  # ok, out-of-range, slower, skipped, failed
    reason: str = ""
    device: str = ""
    epochs: int = 0
    full_length: bool = True
    metric: str = ""
    mode: str = "max"
    target: float | None = None
    target_epoch: int | None = None
    seconds_to_target: float | None = None
    final: float | None = None
    expected: list[float] | None = None
    in_range: bool | None = None
    samples_per_s: float | None = None
    train_seconds: float | None = None
    wall_seconds: float | None = None
    peak_rss_mb: float | None = None
    train_rss_mb: float | None = None
    peak_device_mb: float | None = None
    speedup: float | None = None
    baseline: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return self.status in ("out-of-range", "slower", "failed")


# -- the parent: plan the runs, spawn them, judge them -------------------------------


def plan_rows(specs: list[Any], quick: bool) -> list[tuple[BenchRow, int | None]]:
    """The runs to make: each model's golden recipe, then its notes' recipe (not with --quick)."""
    rows: list[tuple[BenchRow, int | None]] = []
    for spec in specs:
        rows.append((BenchRow(spec.full_name, spec.default_recipe, "golden"), QUICK_EPOCHS if quick else None))
        names = {r.name for r in spec.recipes}
        if NOTES_RECIPE in names and spec.default_recipe != NOTES_RECIPE:
            row = BenchRow(spec.full_name, NOTES_RECIPE, "notes")
            if quick:
                row.status, row.reason = "skipped", "--quick runs the golden recipes only"
            rows.append((row, None))
    return rows


def _spawn(job: dict[str, Any], folder: Path) -> Any:
    job_file, result_file = folder / "job.json", folder / "result.json"
    job_file.write_text(json.dumps({**job, "result": str(result_file)}), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(job_file)],
        capture_output=True,
        text=True,
    )
    if result_file.exists():
        return json.loads(result_file.read_text(encoding="utf-8"))
    lines = [line for line in (proc.stderr or proc.stdout).strip().splitlines() if line.strip()]
    return {"status": "failed", "reason": f"exit code {proc.returncode}: {lines[-1] if lines else 'no output'}"}


def fill(row: BenchRow, result: dict[str, Any], cap: int | None) -> None:
    """Judge one child's result into its row."""
    row.status = result.get("status", "failed")
    row.reason = result.get("reason", "")
    for key in ("device", "metric", "mode", "target", "expected", "peak_rss_mb", "train_rss_mb", "peak_device_mb"):
        if result.get(key) is not None:
            setattr(row, key, result[key])
    if result.get("wall_seconds") is not None:
        row.wall_seconds = round(float(result["wall_seconds"]), 3)
    if row.status != "ok":
        return
    history: list[dict[str, Any]] = result.get("history", [])
    row.epochs = len(history)
    row.full_length = cap is None or int(result.get("recipe_epochs", 0)) <= cap
    key = f"val_{row.metric}"
    values = [h.get(key) for h in history]
    if history and all(v is None for v in values):
        last = history[-1]
        reported = sorted(k[len("val_") :] for k in last if k.startswith("val_") and _scalar(last[k]))
        row.status = "failed"
        row.reason = (
            f"the run reports no metric {row.metric!r} (the recipe's target or the main metric); "
            f"it reports: {', '.join(reported) or 'none'}"
        )
        return
    seconds = [float(h.get("seconds", 0.0)) for h in history]
    row.train_seconds = round(sum(seconds), 3)
    rates = [float(h["samples_per_s"]) for h in history if h.get("samples_per_s")]
    row.samples_per_s = round(statistics.median(rates), 1) if rates else None
    row.final = values[-1] if values and values[-1] is not None else None
    if row.target is not None:
        for i, value in enumerate(values):
            if value is not None and (value <= row.target if row.mode == "min" else value >= row.target):
                row.target_epoch = i + 1
                row.seconds_to_target = round(sum(seconds[: i + 1]), 3)
                break
    if row.expected is not None and row.final is not None and row.full_length:
        lo, hi = row.expected
        row.in_range = lo <= row.final <= hi
        if not row.in_range:
            row.status = "out-of-range"
            row.reason = f"final {row.metric} {row.final:.4g} is outside the expected [{lo:g}, {hi:g}]"


def add_speedups(rows: list[BenchRow]) -> None:
    """Golden over notes: how much sooner the golden recipe reaches the same target."""
    for golden in rows:
        if golden.role != "golden" or golden.seconds_to_target is None:
            continue
        for notes in rows:
            if (
                notes.model == golden.model
                and notes.role == "notes"
                and notes.seconds_to_target is not None
                and notes.target == golden.target
                and golden.seconds_to_target > 0
            ):
                golden.speedup = round(notes.seconds_to_target / golden.seconds_to_target, 2)


#: The fields of a baseline row that ``compare_baseline`` reads, and what each must be.
BASELINE_TEXT = ("model", "recipe", "device")
BASELINE_NUMBERS = ("samples_per_s", "seconds_to_target")


def check_baseline(data: Any, path: str | Path) -> list[dict[str, Any]]:
    """The rows of an earlier ``zoo bench --json``, each field the comparison reads checked before
    any run starts: a damaged baseline is one UsageError naming the row and the field, and costs nothing."""
    from zoo.errors import UsageError

    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise UsageError(f"{path} is not the output of zoo bench --json", hint="it holds a JSON list of rows")
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise UsageError(f"{path}: row {i} is not an object (got {type(row).__name__})")
        for key in BASELINE_TEXT:
            if not isinstance(row.get(key), str):
                raise UsageError(f"{path}: row {i}: {key!r} must be text, got {row.get(key)!r:.60}")
        for key in BASELINE_NUMBERS:
            value = row.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise UsageError(f"{path}: row {i}: {key!r} must be a non-negative number or null, got {value!r:.60}")
    return rows


def compare_baseline(rows: list[BenchRow], baseline: list[dict[str, Any]], tolerance: float) -> None:
    """Flag runs slower than a saved ``zoo bench --json`` by more than ``tolerance`` (0.25 = 25 %)."""
    earlier = {(b.get("model"), b.get("recipe"), b.get("device")): b for b in baseline}
    for row in rows:
        before = earlier.get((row.model, row.recipe, row.device))
        if row.status != "ok" or not before:
            continue
        notes = []
        rate, old_rate = row.samples_per_s, before.get("samples_per_s")
        if rate and old_rate:
            row.baseline["samples_per_s"] = old_rate
            if rate < old_rate * (1 - tolerance):
                notes.append(f"samples/s {rate:g} < {old_rate:g}")
        tta, old_tta = row.seconds_to_target, before.get("seconds_to_target")
        if old_tta:
            row.baseline["seconds_to_target"] = old_tta
            if tta is None:
                notes.append(f"target not reached (was {old_tta:g} s)")
            elif tta > old_tta * (1 + tolerance):
                notes.append(f"time to target {tta:g} s > {old_tta:g} s")
        if notes:
            row.status = "slower"
            row.reason = "; ".join(notes) + f" (beyond {tolerance:.0%} of the baseline)"


def bench(
    specs: list[Any],
    *,
    device: str,
    quick: bool = False,
    data_dir: str | Path | None = None,
    seed: int = 0,
    baseline: list[dict[str, Any]] | None = None,
    tolerance: float = 0.25,
    progress: Any = None,
) -> list[BenchRow]:
    """Run every planned row, each in its own process (with ``quick``, all in one), and judge it."""
    planned = plan_rows(specs, quick)
    rows = [row for row, _ in planned]
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        jobs = []
        for i, (row, cap) in enumerate(planned):
            if row.status == "skipped":
                continue
            folder = Path(tmp) / str(i)
            folder.mkdir()
            job = {
                "model": row.model,
                "recipe": row.recipe,
                "device": device,
                "seed": seed,
                **({"epochs": cap, "steps": QUICK_STEPS, "val_samples": QUICK_VAL} if quick else {"epochs": cap}),
                "data_dir": None if data_dir is None else str(data_dir),
                "out": str(folder / "run"),
                "shared_process": quick,
            }
            jobs.append((row, cap, job))
            if not quick:
                if progress is not None:
                    progress(f"[{i + 1}/{len(planned)}] {row.model} --recipe {row.recipe}")
                fill(row, _spawn(job, folder), cap)
        if quick and jobs:
            if progress is not None:
                progress(f"{len(jobs)} smoke run(s) in one process: " + ", ".join(row.model for row, _, _ in jobs))
            results = _spawn({"jobs": [job for _, _, job in jobs]}, Path(tmp))
            for (row, cap, _), result in zip(jobs, results if isinstance(results, list) else [results] * len(jobs)):
                fill(row, result, cap)
    add_speedups(rows)
    if baseline:
        compare_baseline(rows, baseline, tolerance)
    return rows


def as_json(rows: list[BenchRow]) -> list[dict[str, Any]]:
    return [{**asdict(row), "flagged": row.flagged} for row in rows]


def _scalar(value: Any) -> bool:
    """A number a target can name (per-class lists and the confusion matrix are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
