"""``zoo runs``: the run folders under a directory, newest first."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, ZooError
from zoo.plots import read_metrics


def _model_of(run: Path) -> str:
    from zoo.checkpoint import describe_checkpoint

    for name in ("last.safetensors", "best.safetensors"):
        if (run / name).is_file():
            try:
                return str(describe_checkpoint(run / name).get("model", "?"))
            except ZooError:
                return "? (damaged checkpoint)"
    return "?"


def find_runs(directory: str | Path) -> list[dict[str, Any]]:
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a folder", hint="zoo runs [DIR], default ./runs")
    found: list[dict[str, Any]] = []
    for metrics in directory.rglob("metrics.jsonl"):
        run = metrics.parent
        try:
            rows = read_metrics(run)
        except UsageError as exc:
            print(f"warning: {exc.message}", file=sys.stderr)
            rows = []
        try:
            mtime = metrics.stat().st_mtime
        except OSError:  # a dangling or looping link: the link's own time
            mtime = metrics.lstat().st_mtime
        best = "-"
        for key, pick in (("val_accuracy", max), ("val_mse", min)):
            values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
            if values:
                best = f"{key} {pick(values):.4g}"
                break
        found.append(
            {
                "path": str(run),
                "model": _model_of(run),
                "date": time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime)),
                "epochs": len(rows),
                "best": best,
                "mtime": mtime,
            }
        )
    found.sort(key=lambda r: r["mtime"], reverse=True)
    return found
