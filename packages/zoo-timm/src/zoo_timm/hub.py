"""Pretrained weights from the Hugging Face Hub: timm's ``model.safetensors``, checked, never a pickle.

The file comes through ``huggingface_hub`` (its cache under HF_HOME; HF_ENDPOINT picks the
server; HF_HUB_OFFLINE or ZOO_OFFLINE read the cache only). The hub names each cached file
by its LFS sha256, so the file's own sha256 is checked against that name, online and
offline alike; a mismatch removes the cached copy and is refused. The file must then be a
valid safetensors file (zoo's validating reader refuses a pickle or anything else).

Pre-fetch on a connected machine with ``python -m zoo_timm.hub timm.ARCH:TAG``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from zoo.plugin import CheckpointError, UsageError, ZooError, sha256_of
from zoo.plugin import offline as zoo_offline
from zoo_timm.catalogue import tag_config

#: The one file fetched: timm publishes its weights as safetensors beside any pickle.
FILE = "model.safetensors"
#: Seconds the hub may take to answer before it counts as unreachable.
TIMEOUT = 10.0
_SHA256 = re.compile(r"[0-9a-f]{64}")


def repo_of(arch: str, tag: str) -> str:
    try:
        repo = str(tag_config(arch, tag)["hf_hub_id"])
    except ValueError as exc:
        raise UsageError(str(exc), hint=f"zoo info timm.{arch} lists the tags") from None
    if not repo:
        raise UsageError(f"timm.{arch}:{tag} is not published on the Hugging Face Hub")
    return repo


def prefetch_hint(arch: str, tag: str) -> str:
    return (
        f"on a machine that reaches the hub, run: python -m zoo_timm.hub timm.{arch}:{tag} "
        "(it fills the hub cache, HF_HOME), then copy that cache here"
    )


def fetch(arch: str, tag: str) -> tuple[Path, str]:
    """The verified local ``model.safetensors`` of ``arch:tag`` and its sha256; exit-2 errors otherwise."""
    from huggingface_hub import hf_hub_download

    repo = repo_of(arch, tag)
    where = f"{repo}/{FILE}"
    try:
        path = Path(hf_hub_download(repo, FILE, local_files_only=zoo_offline(), etag_timeout=TIMEOUT))
    except Exception as exc:  # offline, unreachable, not found: each means the file is not here
        why = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        offline = zoo_offline() or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        state = (
            "offline (HF_HUB_OFFLINE or ZOO_OFFLINE) and not in the hub cache" if offline else "unreachable"
        )
        raise UsageError(
            f"cannot fetch the weights {where} from the Hugging Face Hub: {state} ({why[:200]})",
            hint=prefetch_hint(arch, tag),
        ) from None
    return path, verify(path, where)


def verify(path: Path, where: str) -> str:
    """Check the file against the hub's LFS sha256 (its cache name) and as safetensors; its sha256."""
    from zoo.plugin import read_header

    blob = Path(os.path.realpath(path))
    expected = blob.name
    if not _SHA256.fullmatch(expected):
        raise CheckpointError(
            path, f"{where}: the hub gave no LFS sha256 for it", hint="fetch it from the hub"
        )
    actual = sha256_of(blob)
    if actual != expected:
        _forget(blob, path)
        raise CheckpointError(
            path,
            f"{where} has sha256 {actual}, but the hub's LFS sha256 is {expected}: refused and removed",
            hint="the download was damaged or tampered with; fetch it again",
        )
    try:
        read_header(blob)  # a pickle or any other non-safetensors file is refused here
    except ZooError as exc:
        _forget(blob, path)
        raise CheckpointError(path, f"{where} is refused and removed: {exc.message}", hint=exc.hint) from None
    return actual


def _forget(blob: Path, path: Path) -> None:
    """Remove a refused file from the hub cache, so the next run fetches it again."""
    for stale in (path, blob):
        if os.path.lexists(stale):
            os.unlink(stale)


def main(argv: list[str]) -> int:
    """``python -m zoo_timm.hub timm.ARCH:TAG``: fetch and check weights without training."""
    if len(argv) != 2 or ":" not in argv[1]:
        print("usage: python -m zoo_timm.hub timm.ARCH:TAG", file=sys.stderr)
        return 2
    name, _, tag = argv[1].partition(":")
    try:
        path, digest = fetch(name.removeprefix("timm."), tag)
    except ZooError as exc:
        print(f"error: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2
    print(f"{argv[1]}: {path} (sha256 {digest}, checked against the hub's)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
