"""How long `zoo list` takes as the number of installed plugins grows, against `import torch`.

Writes K throwaway plugin distributions (one model each) into a temporary site folder
per count, then times `python -m zoo list --json` in fresh processes, each round one
run per count followed by one `python -c "import torch"`, so that both see the same
machine. The medians are compared; the goal is `zoo list` (with only the installed
plugins, K = 0) at or under 0.10 of `import torch`. Prints JSON; asserts nothing.

    python benchmarks/list_startup.py --plugins 0,10,50,200 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGIN = """
from zoo import ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("m", "model of plugin {i}", "regression", "bench{i}.impl:build", "bench{i}.data",
                       recipes=(Recipe("default", "plain"),)))
"""


def write_site(site: Path, count: int) -> None:
    for i in range(count):
        pkg = site / f"bench{i}"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(PLUGIN.format(i=i), encoding="utf-8")
        info = site / f"bench_plugin_{i}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: bench-plugin-{i}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[zoo.plugins]\nbench{i} = bench{i}\n")


GOAL = 0.10


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr.decode()[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", default="0,10,50,200", help="comma list of plugin counts")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    counts = [int(c) for c in args.plugins.split(",")]
    base = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    list_cmd = [sys.executable, "-m", "zoo", "list", "--json"]
    torch_cmd = [sys.executable, "-c", "import torch"]
    with tempfile.TemporaryDirectory() as tmp:
        envs = {}
        for count in counts:
            site = Path(tmp) / f"site{count}"
            site.mkdir()
            write_site(site, count)
            envs[count] = {**base, "PYTHONPATH": str(site)}
        timed(torch_cmd, base)  # warm the file cache once, for both
        for count in counts:
            timed(list_cmd, envs[count])
        times: dict[int, list[float]] = {count: [] for count in counts}
        torch_times = []
        for _ in range(args.repeat):
            for count in counts:
                times[count].append(timed(list_cmd, envs[count]))
            torch_times.append(timed(torch_cmd, base))
    torch_median = statistics.median(torch_times)
    rows = [
        {
            "plugins": count,
            "median_s": round(statistics.median(times[count]), 4),
            "min_s": round(min(times[count]), 4),
            "ratio_to_import_torch": round(statistics.median(times[count]) / torch_median, 3),
        }
        for count in counts
    ]
    report: dict[str, object] = {
        "benchmark": "zoo list start-up",
        "python": sys.version.split()[0],
        "repeat": args.repeat,
        "import_torch_median_s": round(torch_median, 4),
        "import_torch_min_s": round(min(torch_times), 4),
        "results": rows,
    }
    if 0 in times:
        ratio = statistics.median(times[0]) / torch_median
        report.update(goal=f"plugins 0: <= {GOAL} of import torch", meets_goal=ratio <= GOAL)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
