"""``--workers N``: N processes on this machine joining one study, the CPU threads split between them.

Each worker is a fresh ``python`` running ``zoo.tuning.study.tune`` with the same arguments and
``workers=1``, so a worker is exactly what a second terminal running the same command
would be, except that worker i seeds its sampler with ``--sampler-seed`` + i. The
arguments travel as JSON on the worker's standard input.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from zoo.errors import UsageError, ZooError

#: At most this many local workers.
MAX_WORKERS = 64
_CODE = "from zoo.tuning.worker import main; main()"
#: Memory one worker takes (torch, the model, its data and a trial's run: ~400 MB measured for the notes' models).
WORKER_MEMORY = 512 << 20


def check_workers(workers: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be between 1 and {MAX_WORKERS}, got {workers!r}")


def cap_workers(workers: int) -> int:
    """``workers``, or fewer when this machine's cores or available memory cannot run that many.

    More processes than cores only split the same CPU time, and more than memory holds
    would swap or be killed; the reason is printed when the number is lowered.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    memory = _available_memory()
    by_memory = max(1, memory // WORKER_MEMORY) if memory else workers
    cap = max(1, min(cores, by_memory))
    if workers > cap:
        reason = f"{cores} CPU core(s)" if cap == cores else f"{(memory or 0) / 2**30:.1f} GiB of memory available"
        print(
            f"note: --workers {workers}: running {cap}, as this machine has {reason} "
            f"(a worker needs a core and about {WORKER_MEMORY >> 20} MiB)",
            file=sys.stderr,
        )
    return min(workers, cap)


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable), or None where it cannot be told."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise UsageError(f"with workers > 1 every option must be text, a number or a flag, got {value!r}")


def run_workers(workers: int, arguments: Mapping[str, Any], stdout: IO[str] | None = None) -> None:
    """Start ``workers`` processes on ``arguments`` (``tune``'s keywords) and wait for all of them.

    Ctrl-C reaches every worker (one process group); each saves its trial and ends, and
    then this raises ``Interrupted``. A worker that failed makes a ``ZooError`` naming it.
    """
    from zoo.training.trainer import Interrupted

    threads = arguments.get("threads") or max(1, (os.cpu_count() or 1) // workers)
    seed = arguments.get("sampler_seed")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = []
    for index in range(workers):
        # Worker i samples with seed + i: one seed for all would have every worker suggest
        # the same settings, each trial run once per worker.
        own = {} if seed is None else {"sampler_seed": int(seed) + index}
        payload = json.dumps({**_plain(arguments), "threads": threads, **own})
        proc = subprocess.Popen([sys.executable, "-c", _CODE], stdin=subprocess.PIPE, stdout=stdout, text=True, env=env)
        assert proc.stdin is not None
        proc.stdin.write(payload)
        proc.stdin.close()
        procs.append(proc)
    interrupted = False
    while True:
        try:
            codes = [proc.wait() for proc in procs]
            break
        except KeyboardInterrupt:
            # A Ctrl-C at the terminal reached the workers too; one sent to this process alone
            # is passed on to those still running after a moment, so each saves its trial.
            interrupted = True
            try:
                procs[0].wait(timeout=2)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                pass
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
    if interrupted or 130 in codes:
        raise Interrupted(
            "interrupted: the study is saved; interrupted trials are failed and queued again",
            hint="run the same command again to continue the study",
        )
    bad = [(i, code) for i, code in enumerate(codes) if code != 0]
    if bad:
        names = ", ".join(f"worker {i + 1} (exit {code})" for i, code in bad)
        raise ZooError(f"{names} failed; see its error above", hint="the study keeps every finished trial")
