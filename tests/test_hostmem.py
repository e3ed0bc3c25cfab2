"""zoo.training.hostmem: training processes on the CPU keep multi-megabyte blocks in the heap."""

from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess
import sys
from typing import Any

import pytest

from zoo.training import hostmem


def _has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
pytestmark = pytest.mark.skipif(not (GLIBC and _has_mallinfo2()), reason="needs glibc 2.33 or later")

# Where a fresh process's 16 MB block comes from: the heap (arena) or its own mapping (hblkhd).
PROBE = """
import ctypes, json, sys
from zoo.training.hostmem import keep_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
tuned = keep_freed_memory() if sys.argv[1] == "tune" else None
block = libc.malloc(16 << 20)
info = libc.mallinfo2()
libc.free(block)
after = libc.mallinfo2()
print(json.dumps({"tuned": tuned, "mapped": info.hblkhd, "heap_used": info.uordblks, "heap_after": after.arena}))
"""


def _probe(mode: str, **env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env={**clean, **env}, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_tuned_process_serves_and_keeps_large_blocks_from_the_heap() -> None:
    tuned = _probe("tune")
    assert tuned["tuned"] is True
    assert tuned["heap_used"] >= 16 << 20 and tuned["mapped"] < 16 << 20
    assert tuned["heap_after"] >= 16 << 20, "the freed block went back to the kernel"


def test_untuned_process_maps_large_blocks_so_the_probe_can_tell() -> None:
    plain = _probe("plain")
    assert plain["mapped"] >= 16 << 20


@pytest.mark.parametrize("name", ["MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD"])
def test_an_explicit_user_setting_is_left_alone(name: str) -> None:
    value = {"GLIBC_TUNABLES": "glibc.malloc.check=0", "LD_PRELOAD": ""}.get(name, "1048576")
    probe = _probe("tune", **{name: value})
    assert probe["tuned"] is False
    assert probe["mapped"] >= 16 << 20


def test_not_linux_glibc_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostmem.platform, "libc_ver", lambda: ("musl", "1.2"))
    assert hostmem.keep_freed_memory() is False
