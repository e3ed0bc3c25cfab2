"""zoo: a plugin-based model zoo for PyTorch.

Importing ``zoo`` is cheap and never imports torch; the functions below import what
they need when called.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.contracts.hookspecs import hookimpl
from zoo.contracts.spec import DatasetSpec, ModelSpec, Option, Recipe, Weights, published_weights
from zoo.errors import ZooError
from zoo.plugins.local import register_model
from zoo.training.callbacks import Callback, EarlyStopping
from zoo.version import __version__

if TYPE_CHECKING:
    from torch import nn

    from zoo.backend import DeviceBackend
    from zoo.training.trainer import Run
    from zoo.use.loaded import LoadedModel

__all__ = [
    "Callback",
    "DatasetSpec",
    "EarlyStopping",
    "ModelSpec",
    "Option",
    "Recipe",
    "Weights",
    "ZooError",
    "__version__",
    "create",
    "devices",
    "fit",
    "fit_keywords",
    "get_spec",
    "hookimpl",
    "list_models",
    "load",
    "published_weights",
    "register_model",
    "save",
    "train",
    "tune",
]


def list_models(pattern: str | None = None, task: str | None = None) -> list[ModelSpec]:
    """Registered models, optionally filtered by a shell-style pattern and a task."""
    from zoo.plugins.registry import get_registry

    return get_registry().find(pattern, task=task)


def get_spec(name: str) -> ModelSpec:
    """The spec of one model; raises UnknownModelError with suggestions."""
    from zoo.plugins.registry import get_registry

    return get_registry().model(name)


def create(name: str, weights: str | Path | None = None, **overrides: Any) -> Any:
    """Build the named model on the CPU with its default config plus ``overrides``.

    ``weights="default"`` (another published tag, a checkpoint file or a run folder) loads
    those trained weights, torchvision style; the config then comes from the weights.
    Overrides with weights (``num_classes=5``) keep every tensor whose shape still fits and
    start the rest (the new head) fresh, timm style; stderr names what was re-initialised.
    """
    from zoo.plugins.factory import create as build

    return build(get_spec(name), weights, overrides)


def save(
    model: nn.Module,
    path: str | Path,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    data_meta: Mapping[str, Any] | None = None,
    classes: Sequence[str] | None = None,
    *,
    builder: str | None = None,
    task: str | None = None,
) -> Path:
    """Write a module trained in your own loop as a zoo checkpoint of model ``name``.

    The module must be what the model's builder makes with ``config`` (checked tensor by
    tensor): a registered model's (``name="vision.cnn"``; a module from ``zoo.create`` knows
    its name and config), or your own function (``builder="mypkg.nets:make_net",
    task="multiclass"``); ``classes`` names its output classes. ``zoo predict``, ``eval``,
    ``export``, ``serve`` and ``zoo.load`` then take the file.
    """
    from zoo.errors import UsageError
    from zoo.training.ownmodel import save_model

    try:
        return save_model(
            model, path, name=name, config=config, data_meta=data_meta, classes=classes, builder=builder, task=task
        )
    except UsageError as exc:
        raise _python_spelling(exc) from None


def devices() -> list[DeviceBackend]:
    """Every registered device backend, available or not."""
    from zoo.plugins.registry import get_registry

    return list(get_registry().devices.values())


def train(name: str, *, log_every: int | None = None, callbacks: Sequence[Callback] = (), **overrides: Any) -> Run:
    """Train a model as ``zoo train`` does and return the finished run.

    Options are keyword arguments (``epochs=300``, ``batch_size=0``, ``method="gd"``);
    ``quiet=True`` prints nothing, ``log_every=N`` prints every N-th epoch;
    ``callbacks=[zoo.EarlyStopping(5)]`` see each epoch's metrics and may stop the run.
    """
    from zoo.errors import UsageError
    from zoo.training.progress import output
    from zoo.training.trainer import train as _train

    try:
        with output(log_every=log_every):
            return _train(name, callbacks=tuple(callbacks), **overrides)
    except UsageError as exc:
        raise _python_spelling(exc) from None


def fit(
    module: nn.Module,
    train: Any,
    val: Any = None,
    *,
    task: str,
    classes: Sequence[Any] | None = None,
    builder: str | None = None,
    config: Mapping[str, Any] | None = None,
    name: str | None = None,
    log_every: int | None = None,
    callbacks: Sequence[Callback] = (),
    **run_options: Any,
) -> Run:
    """Train your own ``module`` with zoo's trainer, as ``zoo train`` trains a plugin's model.

    ``train`` and ``val``: ``(X, y)`` tensors or arrays, a ``Dataset``, a ``DataLoader``, a folder
    of class folders or a CSV path. ``task``: ``multiclass``, ``binary``, ``regression`` or
    ``sequence`` (the loss, metrics and how outputs read). Every ``zoo.train`` keyword works
    (``epochs``, ``lr``, ``optimizer``, ``schedule``, ``batch_size``, ``device``, ``precision``,
    ``seed``, ``out``, ``resume``, ``early_stop``...: ``zoo.fit_keywords()``). ``builder=
    "pkg.module:function"`` with ``config=`` lets predict, eval, export and serve rebuild it.
    """
    from zoo.errors import UsageError
    from zoo.training.fitrun import prepare

    try:
        model, options = prepare(module, train, val, task, classes, builder, config, name, run_options)
    except UsageError as exc:
        raise _python_spelling(exc) from None
    return train_model(model, log_every=log_every, callbacks=callbacks, **options)


def fit_keywords() -> list[str]:
    """The run keywords ``zoo.fit`` and ``zoo.train`` take: the declared settings (``zoo.contracts.settings``)."""
    from zoo.contracts.settings import keywords

    return keywords()


def tune(name: str, **options: Any) -> dict[str, Any]:
    """Search hyperparameters as ``zoo tune`` does (Optuna; ``pip install 'zoo-core[tune]'``).

    ``space={"lr": "1e-3..1e-1:log", "batch_size": [16, 32]}``, ``trials=20``, ``timeout=``,
    ``storage=``, ``study=``, ``out=`` and any ``zoo.train`` keyword, fixed for every trial.
    Returns the best trial (value, params, run folder) and the trial counts.
    """
    from zoo.errors import UsageError
    from zoo.tuning.study import tune as _tune

    try:
        return _tune(name, **options)
    except UsageError as exc:
        raise _python_spelling(exc) from None


_FLAG = re.compile(r"(?<![\w-])--(?:no-)?([a-z][a-z0-9-]*)(?: (-?\d[\w.+-]*|[A-Z][A-Z_]*\b|(?=\S*[/\\])[^\s,;)]+))?")


def _keyword(match: re.Match[str]) -> str:
    key = match.group(1).replace("-", "_")
    value = match.group(2)
    if match.group(0).startswith("--no-"):
        return f"{key}=False"
    if value and ("/" in value or "\\" in value):  # a path: a Python string
        return f"{key}={value!r}"
    return f"{key}={value}" if value else f"{key}="


def _python_spelling(exc: ZooError) -> ZooError:
    """A usage error worded for the command line (``--epochs``), reworded for Python (``epochs=``)."""

    def reword(text: str) -> str:
        text = text.replace("unknown option ", "unknown keyword argument ").replace("known options:", "known:")
        return _FLAG.sub(_keyword, text)

    exc.message = reword(exc.message)
    if exc.hint:
        exc.hint = reword(exc.hint)
    exc.args = (exc.message,)
    return exc


def load(ref: str | Path, device: str = "cpu", module: nn.Module | None = None) -> LoadedModel:
    """A trained model from a ``.safetensors`` checkpoint, a run folder or published weights ``NAME[:TAG]``.

    ``module=`` loads the weights into a module you built (a ``zoo.fit`` checkpoint without a builder).
    """
    from zoo.files.weights import open_weights

    if module is not None:
        from zoo.training.fitrun import load_into

        return load_into(ref, module, device=device)

    return open_weights(ref, device=device)


train_model = train  # ``fit`` takes a keyword named ``train``
