"""torch's CPU threads for a training run: the user's ``--threads N``, else one chosen by measurement.

``benchmarks/threads.py`` timed the quick start (diabetes), the MNIST CNN and a
50,000-row table at each thread count on the 2-core machine, busy and idle (the table
is in benchmarks/README.md). Small models gain nothing from a second thread, their
batches are too cheap to split, and lose a lot when another process wants the core;
only the CNN's convolutions gain, and only on an idle machine. So: one thread unless the
model is large enough per batch and the machine has a free core for each thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from zoo.errors import UsageError

#: At most this many threads may be asked for: more than any machine zoo runs on has cores.
MAX_THREADS = 1024
#: Parameters times batch rows below which a step is too cheap to split across threads.
SPLIT_WORTH = 2_000_000


def check_threads(value: object) -> int | None:
    """``threads`` as given: None (zoo's choice) or a whole number from 1 to MAX_THREADS."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THREADS:
        raise UsageError(f"--threads must be a whole number from 1 to {MAX_THREADS}, got {value!r}")
    return value


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_cpus() -> int:
    """Usable CPUs not taken by other work, by the one-minute load average (this process counts as free)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return usable_cpus()
    return max(1, min(usable_cpus(), round(usable_cpus() - load + 1)))


def choose_threads(parameters: int, batch_rows: int) -> int:
    """Threads for a CPU run of a model of ``parameters`` on batches of ``batch_rows`` (0: the whole set)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    work = parameters * max(batch_rows, 1)
    if work < SPLIT_WORTH:
        return 1
    return free_cpus()


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` while the block runs, then put back."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
