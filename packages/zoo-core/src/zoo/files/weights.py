"""Published weights and the one way to open a trained model: a file, a run folder or NAME[:TAG].

A plugin declares each weight set beside its model spec (``zoo.contracts.spec.Weights``) and
ships the file in its package. Opening one checks the file's size and sha256 against
the declaration before the validating checkpoint reader sees it, so a modified or
truncated file is refused by name.

A reference is read the same way by every command and by ``zoo.load``: a ``Path``
object, text with a folder separator or ending in ``.safetensors`` is a path; a
registered model name (``NAME`` or ``NAME:TAG``) is that model's published weights,
even when a file of that name lies in the working folder (write ``./NAME`` for the
file); any other text is a path when such a file or folder exists, else a model name.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.contracts.spec import ModelSpec, Weights
from zoo.errors import CheckpointError, UsageError
from zoo.plugins.registry import get_registry

if TYPE_CHECKING:
    from zoo.use.loaded import LoadedModel

DEFAULT_TAG = "default"
#: ``zoo weights`` hashes a declared file only up to this size; larger ones get the size check alone.
HASH_LIMIT = 64 << 20


def weights_path(weights: Weights) -> Path:
    """Where a declared weight file lies inside its installed package."""
    package, sep, relative = weights.file.partition(":")
    if not sep or not relative:
        raise UsageError(f"weight file {weights.file!r} is not of the form 'package:relative/path'")
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise UsageError(f"weight file {weights.file!r}: package {package!r} is not installed") from None
    return Path(str(root.joinpath(relative)))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_file(spec: ModelSpec, weights: Weights) -> Path:
    """The weight file, after its size and sha256 match what the plugin declared."""
    path = weights_path(weights)
    if not path.is_file():
        raise CheckpointError(
            path, f"weights {spec.full_name}:{weights.tag} are declared but the file is missing", hint="reinstall"
        )
    size = path.stat().st_size
    if size != weights.size:
        raise CheckpointError(
            path,
            f"weights {spec.full_name}:{weights.tag} are {size} bytes, expected {weights.size} "
            f"(sha256 {weights.sha256})",
            hint=f"the file was modified or truncated; reinstall {spec.distribution}",
        )
    actual = sha256_of(path)
    if actual != weights.sha256:
        raise CheckpointError(
            path,
            f"weights {spec.full_name}:{weights.tag} have sha256 {actual}, expected {weights.sha256}",
            hint=f"the file was modified; reinstall {spec.distribution}",
        )
    return path


def find_weights(ref: str) -> tuple[ModelSpec, Weights]:
    """``vision.cnn`` or ``vision.cnn:default`` -> the model's spec and that weight set."""
    name, _, tag = ref.partition(":")
    spec = get_registry().model(name)
    tag = tag or DEFAULT_TAG
    for weights in spec.weights:
        if weights.tag == tag:
            return spec, weights
    tags = ", ".join(w.tag for w in spec.weights) or "none"
    raise UsageError(f"{spec.full_name} has no weights tagged {tag!r}", hint=f"published tags: {tags}")


def is_model_name(text: str) -> bool:
    """Whether ``NAME`` of ``NAME[:TAG]`` is a registered model."""
    return text.partition(":")[0] in get_registry().models


def _explicit_path(ref: str | Path) -> bool:
    text = str(ref)
    separators = {os.sep, os.altsep or os.sep, "/"}
    return isinstance(ref, Path) or text.endswith(".safetensors") or any(s in text for s in separators)


def looks_like_path(ref: str | Path) -> bool:
    """Whether a reference names a file or folder rather than published weights (see the module doc)."""
    if _explicit_path(ref):
        return True
    text = str(ref)
    return os.path.lexists(text) and not is_model_name(text)


def checkpoint_file(ref: str | Path) -> Path:
    """A checkpoint file for a file, a run folder (its best checkpoint) or NAME[:TAG]."""
    from zoo.files.runfolder import resolve_run

    if looks_like_path(ref):
        path = Path(ref)
        return resolve_run(path) if path.is_dir() else path
    text = str(ref)
    if os.path.lexists(text):
        sys.stderr.write(f"note: {text!r} is read as the model's published weights; for the file, write ./{text}\n")
    spec, weights = find_weights(text)
    return verified_file(spec, weights)


def weights_status(weights: Weights) -> str:
    """``ok``, ``modified``, ``missing`` or ``not a file`` for a declared weight file, cheaply.

    The size is always compared; the sha256 too for files up to HASH_LIMIT bytes
    (published weights are small), so a listing never reads gigabytes.
    """
    try:
        path = weights_path(weights)
        info = os.stat(path)
    except FileNotFoundError:
        return "missing"
    except (OSError, UsageError):
        return "missing"
    if not stat.S_ISREG(info.st_mode):
        return "not a file"
    if info.st_size != weights.size:
        return "modified"
    if info.st_size > HASH_LIMIT:
        return "ok (size only)"
    try:
        return "ok" if sha256_of(path) == weights.sha256 else "modified"
    except OSError:
        return "unreadable"


def open_weights(ref: str | Path, device: str = "cpu", path: Path | None = None) -> LoadedModel:
    """Load a model from a checkpoint file, a run folder or published weights NAME[:TAG].

    ``path`` is ``checkpoint_file(ref)`` when the caller has resolved it already.
    """
    from zoo.files.checkpoint import load_checkpoint

    path = path or checkpoint_file(ref)
    loaded = load_checkpoint(path, device=device)
    if not looks_like_path(ref) and loaded.spec.full_name != str(ref).partition(":")[0]:
        raise CheckpointError(path, f"holds weights of {loaded.spec.full_name}, not {ref}")
    return loaded
