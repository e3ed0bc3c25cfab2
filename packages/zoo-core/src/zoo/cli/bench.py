"""``zoo bench``."""

from __future__ import annotations

from typing import Any, Optional

import typer

from zoo.cli.app import app, err, load_registry, out, print_json, print_table, safe
from zoo.cli.common import with_settings
from zoo.contracts import settings
from zoo.contracts.setting import Setting
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


BENCH_OPTIONS = (
    Setting("quick", "bool", f"A smoke check that every model trains: golden recipes only, at most {QUICK_EPOCHS} "
            f"epochs of {QUICK_STEPS} steps each (the first {QUICK_STEPS} batches of the training data), evaluated on "
            f"at most {QUICK_VAL} samples; the expected ranges are not checked.", default=False),
    Setting("baseline", "path", "An earlier `zoo bench --json` from this machine: flag runs that got slower.",
            metavar="FILE"),
    Setting("tolerance", "float", "How much slower than the baseline is still fine (0.25 = 25 %).", default=0.25,
            metavar="SHARE", low=0.0),
)  # fmt: skip


@app.command("bench")
@with_settings("bench", own=BENCH_OPTIONS)
def bench_cmd(
    pattern: Optional[str] = typer.Argument(None, help="Shell-style pattern such as 'vision.*' (default: all)."),
    **given: Any,
) -> None:
    """Run each model's golden recipe and the notes' own recipe; time to target, final metric, speed, memory.

    The data must be in the data folder already: nothing is downloaded. Exits 1 when a final
    metric falls outside its recipe's expected range, a run fails, or (with --baseline) a run
    is slower than the tolerance allows; otherwise 0.
    """
    from zoo.training.bench import as_json as rows_json
    from zoo.training.bench import bench

    settings.check_given(given)
    for declared in BENCH_OPTIONS:
        declared.check(given[declared.name])
    earlier = None
    if given["baseline"] is not None:  # read and checked before anything runs
        from zoo.files.readfile import read_json
        from zoo.training.bench import check_baseline

        earlier = check_baseline(read_json(given["baseline"], "the output of zoo bench --json"), given["baseline"])
    registry = load_registry()
    specs = registry.find(pattern)
    if not specs:
        raise UsageError(f"no installed model matches {pattern!r}" if pattern else "no models installed")
    as_json, quick = given["json"], given["quick"]
    rows = bench(
        specs,
        device=_concrete_device(given["device"], registry),
        quick=quick,
        data_dir=given["data_dir"],
        seed=given["seed"] or 0,
        baseline=earlier,
        tolerance=given["tolerance"],
        progress=None if as_json else (lambda text: err.print(safe(text))),
    )
    if as_json:
        print_json(rows_json(rows))
    else:
        _print_rows(rows, quick)
    flagged = [r for r in rows if r.flagged]
    if flagged:
        if not as_json:
            err.print(safe(f"{len(flagged)} run(s) flagged: " + ", ".join(f"{r.model} {r.recipe}" for r in flagged)))
        raise typer.Exit(1)


def _concrete_device(device: str, registry: Any) -> str:
    """``cpu``, or the resolved accelerator (resolving imports torch: a bad device fails here, once)."""
    if device == "cpu":
        return "cpu"
    from zoo.backend import resolve_device

    backend, index = resolve_device(device, registry.devices)
    return backend.name if backend.name == "cpu" else f"{backend.name}:{index}"


def _print_rows(rows: list[Any], quick: bool) -> None:
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
