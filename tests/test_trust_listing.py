"""``zoo runs`` under hostile folders: cost linear in settings, any depth, memory independent of log sizes.

Each case runs the installed CLI in a subprocess whose address space is capped, and reads
its peak resident memory back from the kernel. A small Python process starts it: Linux
carries the forking process's peak into its child across exec, so a child forked straight
from a test worker that holds torch would report the worker's memory, not its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from serve_testkit import zoo_env

#: Address space for a ``zoo runs`` process (it imports no torch when no run holds a checkpoint).
ADDRESS_SPACE = 1 << 30


#: Starts ``argv[2:]`` under the limits and writes the child's peak RSS (KiB) to ``argv[1]``.
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "def limits():\n"
    "    resource.setrlimit(resource.RLIMIT_AS, ({space}, {space}))\n"
    "    resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu}))\n"
    "code = subprocess.run(sys.argv[2:], preexec_fn=limits).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def zoo_runs(cwd: Path, *args: str, cpu_seconds: int = 60) -> tuple[int, str, str, int]:
    """(exit code, stdout, stderr, peak RSS in MiB) of ``zoo runs ARGS`` under CPU and memory limits."""
    out, err, peak = cwd / "runs.out", cwd / "runs.err", cwd / "runs.peak"
    launcher = LAUNCHER.format(space=ADDRESS_SPACE, cpu=cpu_seconds)
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.run(
            [sys.executable, "-c", launcher, str(peak), sys.executable, "-m", "zoo", "runs", *args],
            cwd=cwd,
            env=zoo_env(ZOO_DATA_DIR=str(cwd / "data"), COLUMNS="200"),
            stdout=o,
            stderr=e,
        )
    return proc.returncode, out.read_text(), err.read_text(), int(peak.read_text()) // 1024


def run_folder(path: Path, config: dict[str, object], records: int = 2, line: str = "") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    rows = "".join(json.dumps({"epoch": i + 1, "val_accuracy": 0.5 + i / 100}) + "\n" for i in range(records))
    (path / "metrics.jsonl").write_text(rows + line, encoding="utf-8")
    return path


def test_forty_thousand_settings_are_compared_in_linear_time(tmp_path: Path) -> None:
    keys = 40_000
    for n in range(2):
        config = {"model": "tabular.linear", "seed": n, "config": {f"k{i}": i * (n + 1) for i in range(keys)}}
        run_folder(tmp_path / "runs" / f"run{n}", config)
    start = time.monotonic()
    code, out, err, _ = zoo_runs(tmp_path, "runs", "--json", cpu_seconds=30)
    assert code == 0, err
    listed = json.loads(out)
    assert len(listed) == 2 and "Traceback" not in err
    assert len(listed[0]["settings"]) == keys  # k0 is 0 in both; the seed differs
    assert time.monotonic() - start < 60


def test_a_deeply_nested_folder_is_walked_without_recursion(tmp_path: Path) -> None:
    deep = tmp_path / "runs"
    for _ in range(1_500):  # deeper than Python's recursion limit; the path stays under PATH_MAX
        deep = deep / "a"
        deep.mkdir(parents=True)  # one level at a time: makedirs would recurse
    run_folder(deep, {"model": "tabular.linear", "seed": 1})
    run_folder(tmp_path / "runs" / "b", {"model": "tabular.linear", "seed": 2})
    try:
        code, out, err, _ = zoo_runs(tmp_path, "runs", "--json")
    finally:
        remove_deep(tmp_path / "runs")  # shutil.rmtree (and pytest's cleanup) would recurse
    assert code == 0, err
    assert "Traceback" not in err and "RecursionError" not in err
    assert sorted(len(Path(r["path"]).parts) for r in json.loads(out))[-1] > 1_500


def remove_deep(root: Path) -> None:
    """Remove a folder tree of any depth without recursion."""
    folders, stack = [], [root]
    while stack:
        folder = stack.pop()
        folders.append(folder)
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            else:
                os.unlink(entry.path)
    for folder in reversed(folders):
        os.rmdir(folder)


def test_large_logs_cost_memory_of_one_record_not_of_the_log(tmp_path: Path) -> None:
    runs, records = 3, 600_000  # ~45 MB per log; read whole into dicts, three would take ~1.5 GB
    for n in range(runs):
        run_folder(tmp_path / "runs" / f"r{n}", {"model": "tabular.linear", "seed": n}, records=records)
    size = sum(p.stat().st_size for p in (tmp_path / "runs").rglob("metrics.jsonl")) >> 20
    code, out, err, peak = zoo_runs(tmp_path, "runs", "--sort", "val_accuracy", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [r["epochs"] for r in listed] == [records] * runs
    assert listed[0]["sorted_by"]["value"] == 0.5 + (records - 1) / 100
    assert peak < 150, f"peak {peak} MiB for {size} MiB of logs"


def test_a_record_line_too_long_is_skipped_unread(tmp_path: Path) -> None:
    huge = json.dumps({"epoch": 9, "pad": "x" * (3 << 20)}) + "\n"
    run_folder(tmp_path / "runs" / "r", {"model": "tabular.linear"}, records=2, line=huge)
    code, out, err, _ = zoo_runs(tmp_path, "runs", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["epochs"] == 2
    assert "skipped line(s) 3: not epoch records" in err
