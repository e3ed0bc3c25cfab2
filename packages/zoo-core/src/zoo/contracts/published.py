"""Published weight sets: the record a plugin declares for each trained file it ships.

Read from the package's JSON manifest without torch, so ``zoo weights`` and ``zoo list``
stay instant; ``zoo.files.weights`` checks and loads the files themselves.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Weights:
    """A published, trained weight set shipped inside a plugin's package.

    ``file`` is ``"package:relative/path"`` (found with importlib.resources, so it
    works from a wheel); ``sha256`` and ``size`` are checked on every load. The rest
    is provenance: what data, which split the metric was measured on, which recipe
    and the exact command that made it. ``train_seconds`` is the training time measured
    inside the run (its epochs' ``seconds``), ``machine`` what it ran on.
    """

    tag: str
    file: str
    sha256: str
    size: int
    dataset: str
    split: str
    metric: str
    value: float
    recipe: str
    command: str
    seed: int = 0
    train_seconds: float = 0.0
    device: str = "cpu"
    summary: str = ""
    #: Where it was trained, in words (CPU model or GPU name, cores, torch threads); "" when unknown.
    machine: str = ""

    def __repr__(self) -> str:
        return (
            f"Weights({self.tag!r}, {self.metric}={self.value:.4g} on {self.dataset} {self.split}, "
            f"recipe={self.recipe!r}, {self.size / 1024:.0f} KiB)"
        )


def published_weights(package: str, model: str, manifest: str = "weights/weights.json") -> tuple[Weights, ...]:
    """The weight sets ``package`` ships for ``model``, read from its JSON manifest without torch.

    The manifest (``{"weights": [{"model": ..., "tag": ..., "file": "weights/x.safetensors",
    ...}]}``) is what a build script writes beside the files; a missing one means no weights.
    """
    return tuple(weights for name, weights in _manifest(package, manifest) if name == model)


@functools.cache
def _manifest(package: str, manifest: str) -> tuple[tuple[str, Weights], ...]:
    import json
    from importlib import resources

    path = resources.files(package).joinpath(manifest)
    if not path.is_file():
        return ()
    names = {f.name for f in fields(Weights)} - {"file"}
    entries = json.loads(path.read_text(encoding="utf-8"))["weights"]
    return tuple(
        (
            str(entry["model"]),
            Weights(file=f"{package}:{entry['file']}", **{k: v for k, v in entry.items() if k in names}),
        )
        for entry in entries
    )
