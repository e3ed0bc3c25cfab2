"""Host memory policy for training on the CPU: keep freed activation memory instead of returning it.

A CNN step on the CPU allocates and frees the same few activation buffers, each of
several megabytes. glibc hands blocks that large to the kernel and back on every step
(mmap, then a trim of the heap's top), so each step pays the page faults again: about
10 % of a CPU epoch for the notes' CNN. Raising both thresholds keeps those blocks in
the heap for reuse, which is what a long-running training process wants. The heap may
hold up to ``TRIM_THRESHOLD`` of freed memory that the process will use again.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

#: Blocks below this come from the heap (glibc's largest allowed value on 64-bit).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the heap's top is returned to the kernel only beyond this.
TRIM_THRESHOLD = 128 << 20
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD")


def keep_freed_memory() -> bool:
    """Set glibc's thresholds for this process; False where it is not glibc or the user chose their own."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False  # an explicit malloc setting or another allocator: theirs to tune
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
