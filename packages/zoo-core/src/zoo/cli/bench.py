"""``zoo bench``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from zoo.cli.app import JSON_HELP, app, err, load_registry, out, print_json, print_table, safe
from zoo.errors import UsageError
from zoo.training.bench import QUICK_EPOCHS, QUICK_STEPS, QUICK_VAL


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def short(reason: str) -> str:
    """A reason's first sentence, for the table (``--json`` keeps it whole)."""
    first = reason.strip().splitlines()[0] if reason.strip() else ""
    sentence, stop, _ = first.partition(". ")
    return sentence + "." if stop else first


def _status(row: Any) -> str:
    if row.status == "ok":
        return "ok" if row.in_range is not False else "OUT OF RANGE"
    label = {"out-of-range": "OUT OF RANGE", "slower": "SLOWER", "failed": "FAILED"}.get(row.status, row.status)
    return f"{label}: {short(row.reason)}" if row.reason else label


def _to_target(row: Any, quick: bool = False) -> str:
    if row.status not in ("ok", "out-of-range", "slower"):
        return "-"  # the status column says why
    if quick and row.seconds_to_target is None:
        return "-"  # the header line says why: a smoke run is too short to reach most targets
    if row.target is None:
        return "no target"
    if row.seconds_to_target is None:
        return f"not reached ({row.metric} {row.target:g})"
    return f"{row.seconds_to_target:.3g} s (epoch {row.target_epoch}, {row.metric} {row.target:g})"


def _final(row: Any) -> str:
    if row.final is None:
        return "-"
    text = f"{row.metric} {row.final:.4g}"
    if row.expected is not None:
        lo, hi = row.expected
        text += f" in [{lo:g}, {hi:g}]" if row.full_length else f" (shortened, [{lo:g}, {hi:g}] not checked)"
    return text


def _memory(row: Any) -> str:
    parts = []
    if row.peak_rss_mb is not None:
        parts.append(f"{row.peak_rss_mb:.0f} MB")
        if row.train_rss_mb is not None:
            parts[-1] += f" (+{row.train_rss_mb:.0f})"
    if row.peak_device_mb is not None:
        parts.append(f"{row.device} {row.peak_device_mb:.0f} MB")
    return ", ".join(parts) or "-"


@app.command("bench")
def bench_cmd(
    pattern: Optional[str] = typer.Argument(None, help="Shell-style pattern such as 'vision.*' (default: all)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, mps, npu (or NAME:INDEX)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    quick: bool = typer.Option(
        False,
        "--quick",
        help=f"A smoke check that every model trains: golden recipes only, at most {QUICK_EPOCHS} epochs of "
        f"{QUICK_STEPS} steps each (the first {QUICK_STEPS} batches of the training data), evaluated on at most "
        f"{QUICK_VAL} samples; the expected ranges are not checked.",
    ),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Data folder (default $ZOO_DATA_DIR or ~/.cache/zoo); nothing is downloaded."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every run."),
    baseline: Optional[Path] = typer.Option(
        None, "--baseline", help="An earlier `zoo bench --json` from this machine: flag runs that got slower."
    ),
    tolerance: float = typer.Option(
        0.25, "--tolerance", min=0.0, help="How much slower than the baseline is still fine (0.25 = 25 %)."
    ),
) -> None:
    """Run each model's golden recipe and the notes' own recipe; time to target, final metric, speed, memory.

    Exits 1 when a final metric falls outside its recipe's expected range, a run fails,
    or (with --baseline) a run is slower than the tolerance allows; otherwise 0.
    """
    from zoo.backend import resolve_device
    from zoo.training.bench import as_json as rows_json
    from zoo.training.bench import bench

    earlier = None
    if baseline is not None:  # read and checked before anything runs
        from zoo.files.readfile import read_json
        from zoo.training.bench import check_baseline

        earlier = check_baseline(read_json(baseline, "the output of zoo bench --json"), baseline)
    registry = load_registry()
    specs = registry.find(pattern)
    if not specs:
        raise UsageError(f"no installed model matches {pattern!r}" if pattern else "no models installed")
    concrete = "cpu"
    if device != "cpu":  # resolving anything else imports torch; fail here, once, on a bad device
        backend, index = resolve_device(device, registry.devices)
        concrete = backend.name if backend.name == "cpu" else f"{backend.name}:{index}"
    rows = bench(
        specs,
        device=concrete,
        quick=quick,
        data_dir=data_dir,
        seed=seed,
        baseline=earlier,
        tolerance=tolerance,
        progress=None if as_json else (lambda text: err.print(safe(text))),
    )
    if as_json:
        print_json(rows_json(rows))
    else:
        if quick:
            out.print(
                f"{QUICK_EPOCHS} epochs: smoke only (at most {QUICK_STEPS} steps each; time to target where "
                "one is reached, expected ranges and memory not checked)",
                markup=False,
            )
        print_table(
            ["model", "recipe", "device", "epochs", "time to target", "final", "samples/s", "peak memory", "status"],
            [
                [
                    r.model,
                    r.recipe + (" (notes)" if r.role == "notes" else ""),
                    r.device or "-",
                    str(r.epochs) if r.epochs else "-",
                    _to_target(r, quick) + (f", {r.speedup:g}x the notes" if r.speedup is not None else ""),
                    _final(r),
                    _num(r.samples_per_s, 5),
                    _memory(r),
                    _status(r),
                ]
                for r in rows
            ],
        )
    flagged = [r for r in rows if r.flagged]
    if flagged:
        if not as_json:
            err.print(safe(f"{len(flagged)} run(s) flagged: " + ", ".join(f"{r.model} {r.recipe}" for r in flagged)))
        raise typer.Exit(1)
