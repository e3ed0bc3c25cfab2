"""How long `zoo list` takes as the number of installed plugins grows.

Writes K throwaway plugin distributions (one model each) into a temporary site folder,
then times `python -m zoo list --json` in fresh processes. Prints JSON; asserts nothing.

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


def time_list(site: Path, repeat: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env["PYTHONPATH"] = str(site)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], env=env, capture_output=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(result.stderr.decode())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", default="0,10,50,200", help="comma list of plugin counts")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for count in (int(c) for c in args.plugins.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            site = Path(tmp)
            write_site(site, count)
            times = time_list(site, args.repeat)
        rows.append({"plugins": count, "median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4)})
    print(json.dumps({"benchmark": "zoo list start-up", "python": sys.version.split()[0], "results": rows}, indent=2))


if __name__ == "__main__":
    main()
