"""Everything a run needs before its first epoch, built from a plan.

``build`` loads the data, lets the adapter refuse settings it cannot use, decides the
builder config (spec < data < user, or the weights' own config), builds the model,
optionally starts it from saved weights (copying what fits when the data or the user
asks for other layer sizes), moves data and model to the device and makes the
optimizer, schedule and grad scaler. The trainer then only runs epochs.
"""

from __future__ import annotations

import os
import platform
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from zoo.contracts.adapter import ModelAdapter, Strategy, adapter_for
from zoo.contracts.data import DataBundle, DataRequest
from zoo.contracts.spec import resolve
from zoo.contracts.tasks import task_for
from zoo.errors import CheckpointError, UsageError
from zoo.plugins.factory import build as build_model
from zoo.training.distributed import DistEnv
from zoo.training.finetune import transfer
from zoo.training.hostmem import keep_freed_memory
from zoo.training.optim import make_optimizer
from zoo.training.plan import Plan
from zoo.use.batching import plan_batches, to_device
from zoo.use.evaluate import evaluate_split
from zoo.version import __version__

AUTOCAST: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: A builder key any model may change against its weights: the head's size follows the class count.
HEAD_KEYS = ("num_classes",)


@dataclass
class Setup:
    """What ``build`` made: the pieces an epoch uses."""

    #: The plan for this data (``Plan.for_data``): the one the trainer runs.
    plan: Plan
    device: torch.device
    autocast_dtype: torch.dtype | None
    bundle: DataBundle
    adapter: ModelAdapter
    method: str
    strategy: Strategy
    config: dict[str, Any]
    module: nn.Module
    model: nn.Module  # ``module``, or its DDP wrapper
    optimizer: torch.optim.Optimizer | None
    scheduler: Any
    scaler: Any
    warnings: list[str]
    #: One line saying which tensors of --weights were re-initialised (None: all copied, or no weights).
    weights_transfer: str | None = None

    def autocast(self) -> Any:
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Forward, loss, backward, optimizer and schedule step; the detached loss."""
        if self.optimizer is None:
            raise UsageError(f"method {self.method!r} does not use an optimizer")
        with self.autocast():
            outputs = self.model(x)
        loss = self.adapter.loss(outputs.float() if self.autocast_dtype else outputs, y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach()

    def evaluate(self, batch_size: int, dist: DistEnv) -> dict[str, Any]:
        """The main metrics on the validation split (the training split when there is none)."""
        split = self.bundle.val if self.bundle.val is not None else self.bundle.train
        return evaluate_split(
            self.module, self.adapter, split, self.bundle, self.device, batch_size, dist, self.autocast
        )

    def resolved_config(self, plan: Plan, world_size: int) -> dict[str, Any]:
        """Everything that decides this run, for ``config.json``: the plan's settings and what was found."""
        # Every setting the plan writes (runconfig.SETTINGS), then what this machine and the data decided.
        config = {
            **plan.settings(),
            "config": self.config,
            "data_source": plan.data_source(),
            # Builder arguments the data decided (runconfig.INFORMATIONAL): --config lets the data decide again.
            "data_config": {
                k: v for k, v in self.bundle.config.items() if k not in plan.config and self.config.get(k) == v
            },
            "device": str(self.device),
            "world_size": world_size,
            # Local to this machine, like the data options' paths: config.json is never shared in a checkpoint.
            "data_dir": None if plan.given_data_dir is None else str(plan.given_data_dir),
            "versions": {
                "zoo": __version__,
                "torch": torch.__version__,
                "python": platform.python_version(),
                plan.spec.distribution: plan.spec.version,
            },
        }
        if plan.epochs_note:  # kept on resume
            config["epochs_note"] = plan.epochs_note
        if self.weights_transfer:
            config["weights_transfer"] = self.weights_transfer
        return config


def steps_per_epoch(plan: Plan, samples: int, world_size: int) -> int:
    return len(plan_batches(samples, plan.hparams.batch_size, 0, 0, 0, world_size, shuffle=False))


def build(plan: Plan, dist: DistEnv) -> Setup:
    """Data, model, device and optimizer for ``plan``; every check that can fail comes before the process group.

    ``Setup.plan`` is the plan for this data (``Plan.for_data``: ``min_steps`` may raise the epochs).
    """
    device = _prepare_device(plan, dist)
    bundle = _load_data(plan, dist)
    adapter = adapter_for(plan.spec)
    strategies = adapter.strategies()
    method = plan.hparams.method
    if method not in strategies:
        hint = f"methods: {', '.join(sorted(strategies))}"
        raise UsageError(f"{plan.spec.full_name} has no fitting method {method!r}", hint=hint)
    steps = steps_per_epoch(plan, len(bundle.train), dist.world_size)
    plan = plan.for_data(steps, len(bundle.train), method in adapter.optimizer_free)
    config = {**dict(plan.spec.config), **bundle.config, **plan.config}
    if plan.resume is not None:
        config = dict(plan.resume["config"])
    loaded = _open_weights(plan) if plan.weights is not None and plan.resume is None else None
    if loaded is not None:
        config = _weights_config(plan, dict(loaded.metadata["config"]), config, set(bundle.config))
    _check_classes(config, bundle, plan.spec.full_name)
    adapter.check(plan.hparams.as_dict(), config)
    dist.init(plan.backend)  # after every check that can fail the same way on all ranks
    torch.manual_seed(plan.seed)
    module: nn.Module = build_model(plan.spec, config)
    moved = None
    if loaded is not None:
        moved = transfer(module, loaded.model.state_dict(), what=f"the weights {plan.weights}")
    module.to(device)
    bundle.train = to_device(bundle.train, device)  # type: ignore[assignment]
    bundle.val = to_device(bundle.val, device)
    model: nn.Module = module
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
    autocast_dtype = AUTOCAST[plan.precision]
    optimizer, scheduler, scaler = (None, None, None)
    if method not in adapter.optimizer_free:
        optimizer, scheduler, scaler = _optimization(plan, module, steps, device, autocast_dtype)
    return Setup(
        device=device,
        autocast_dtype=autocast_dtype,
        bundle=bundle,
        adapter=adapter,
        method=method,
        strategy=strategies[method],
        config=config,
        module=module,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        warnings=_data_warnings(plan.spec.task, bundle),
        weights_transfer=moved.describe() if moved is not None and moved.fresh else None,
        plan=plan,
    )


def _prepare_device(plan: Plan, dist: DistEnv) -> torch.device:
    """This process's device, with the determinism and allocator settings the run asks for."""
    backend = plan.backend
    device = backend.torch_device(dist.local_rank if dist.enabled and backend.name != "cpu" else plan.device_index)
    if device.type == "cpu":
        keep_freed_memory()  # activations are reused every step: keep them off the page-fault path
    if plan.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif backend.name == "cuda":
        torch.backends.cudnn.benchmark = True
    return device


def _load_data(plan: Plan, dist: DistEnv) -> DataBundle:
    """The run's data, refused when the processes cannot share it or its batch."""
    torch.manual_seed(plan.seed)
    loader = resolve(plan.dataset.loader)
    request = DataRequest(dict(plan.data_options), plan.data_dir, plan.seed, plan.download)
    bundle: DataBundle = loader(request)
    dist.check_data(len(bundle.train))
    size = plan.hparams.batch_size
    if dist.enabled and 0 < size < dist.world_size:
        raise UsageError(
            f"a batch of {size} cannot be shared by {dist.world_size} processes (the batch size is global)",
            hint=f"use --batch-size {dist.world_size} or more, or --batch-size 0 for the full batch",
        )
    return bundle


def _optimization(
    plan: Plan, module: nn.Module, steps: int, device: torch.device, autocast_dtype: torch.dtype | None
) -> tuple[torch.optim.Optimizer, Any, Any]:
    """Optimizer, learning-rate schedule (laid out over the whole run) and fp16 grad scaler."""
    h = plan.hparams
    optimizer = make_optimizer(h.optimizer, module.parameters(), h.lr, h.momentum, h.weight_decay)
    total = max(steps * h.epochs, 1)
    scheduler: Any = None
    if h.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    elif h.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=h.lr, total_steps=total)
    scaler = torch.amp.GradScaler("cuda") if autocast_dtype == torch.float16 and device.type == "cuda" else None
    return optimizer, scheduler, scaler


def _open_weights(plan: Plan) -> Any:
    """Published or saved weights to start from (fine-tuning: the optimizer starts fresh)."""
    from zoo.files.weights import open_weights

    assert plan.weights is not None
    loaded = open_weights(plan.weights)
    if loaded.spec.full_name != plan.spec.full_name:
        raise CheckpointError(loaded.path, f"holds {loaded.spec.full_name}, not {plan.spec.full_name}")
    return loaded


def _weights_config(plan: Plan, saved: dict[str, Any], wanted: dict[str, Any], from_data: set[str]) -> dict[str, Any]:
    """The weights' config, except keys that only size layers (the class count, what the data decides).

    Those take the data's or the user's value and ``transfer`` copies what still fits; any
    other key the user gives must agree with the weights (another architecture is another model).
    """
    sizes = from_data | set(HEAD_KEYS)
    for key, value in plan.config.items():
        if key in saved and key not in sizes and _plain(saved[key]) != _plain(value):
            flag = "--" + key.replace("_", "-")
            raise UsageError(
                f"{flag} {_shown(value)} contradicts the weights {plan.weights}, which were trained with "
                f"{key} = {_shown(saved[key])}",
                hint=f"leave out {flag} to keep the weights' value, or train without --weights",
            )
    resized = {k: wanted[k] for k in sizes if k in saved and k in wanted and (k in plan.config or k in from_data)}
    return {**saved, **resized}


def _check_classes(config: dict[str, Any], bundle: DataBundle, model: str) -> None:
    """A head sized for another class count than the data's cannot be trained or evaluated on it."""
    wanted, found = config.get("num_classes"), bundle.num_classes
    if isinstance(wanted, int) and found is not None and wanted != found:
        raise UsageError(
            f"{model} would have {wanted} outputs but its data has {found} classes",
            hint=f"use --num-classes {found}, or leave it out to take the data's",
        )


def _shown(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def _plain(value: Any) -> Any:
    """Tuples as lists, as JSON stores them: a (6, 4) default and a saved [6, 4] agree."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _data_warnings(task: str, bundle: DataBundle) -> list[str]:
    """Things about the data a person should know before trusting the run."""
    split = bundle.train
    if not task_for(task).classifies or not hasattr(split, "y"):
        return []
    labels = split.y.reshape(-1)
    if labels.numel() and bool((labels == labels[0]).all()):
        return [f"every training label is {labels[0].item():g}: the model can only learn to predict that one class"]
    return []
