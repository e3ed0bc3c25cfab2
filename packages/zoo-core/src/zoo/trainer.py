"""The training engine every model runs through.

Plugins say what differs (model, data, loss, metrics, fitting methods); this module
owns the rest: devices, precision, batching, evaluation, the run folder, atomic
checkpoints, exact resume, Ctrl-C, NaN guards and torch.distributed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import nn

from zoo.adapter import ModelAdapter, Strategy
from zoo.backend import DeviceBackend, resolve_device
from zoo.batching import iterate, plan_batches, to_device
from zoo.checkpoint import base_metadata, read_checkpoint, restore_weights, save_checkpoint
from zoo.data import DataBundle, DataRequest, Split
from zoo.distributed import DistEnv
from zoo.errors import TrainingError, UsageError, ZooError
from zoo.options import split_overrides
from zoo.progress import Reporter
from zoo.registry import build_model, get_registry, warn_problems
from zoo.safefile import capture_rng, flatten_state, restore_rng, unflatten_state
from zoo.spec import DatasetSpec, ModelSpec, resolve

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "cosine", "onecycle")
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
LAST = "last.safetensors"
BEST = "best.safetensors"
METRICS = "metrics.jsonl"


class Interrupted(ZooError):
    """Ctrl-C during training: the state was saved and the run can be resumed."""

    exit_code = 130


class _StopRequested(Exception):
    """Raised at a batch boundary after SIGINT, so no update is ever half-applied."""


def default_data_dir() -> Path:
    if os.environ.get("ZOO_DATA_DIR"):
        return Path(os.environ["ZOO_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "zoo"


@dataclass
class Run:
    """A finished (or resumed and finished) training run."""

    run_dir: Path
    spec: ModelSpec
    model: nn.Module
    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    is_main: bool = True

    @property
    def metrics(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


@dataclass
class Plan:
    """Everything decided before any data is touched."""

    spec: ModelSpec
    dataset: DatasetSpec
    recipe: str
    hparams: dict[str, Any]
    data_options: dict[str, Any]
    config: dict[str, Any]
    seed: int
    data_dir: Path
    run_dir: Path
    precision: str
    deterministic: bool
    quiet: bool
    download: bool
    resume: dict[str, Any] | None = None
    resume_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def _run_dir(name: str, out: str | Path | None, env: DistEnv) -> Path:
    if out is not None:
        return Path(out)
    if env.enabled:
        if env.run_id and env.run_id != "none":
            # Stable across elastic restarts, so restarted workers find the checkpoint.
            return Path("runs") / name / f"torchrun-{env.run_id}"
        raise UsageError("under torchrun without a rendezvous id, pass --out RUN_DIR so every rank uses one folder")
    return Path("runs") / name / time.strftime("%Y%m%d-%H%M%S")


def make_plan(
    name: str,
    *,
    seed: int = 0,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    precision: str = "fp32",
    deterministic: bool = False,
    quiet: bool = False,
    download: bool = True,
    env: DistEnv | None = None,
    **overrides: Any,
) -> Plan:
    """Resolve a model name and user overrides into a validated plan."""
    env = env or DistEnv()
    registry = get_registry()
    if env.is_main:
        warn_problems(registry)
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", hint=f"choose from {', '.join(PRECISIONS)}")
    run_dir = Path(resume) if resume is not None else _run_dir(name, out, env)
    last = run_dir / LAST
    if resume is None and env.restart_count > 0 and last.exists():
        resume = run_dir  # an elastic restart picks up where the group stopped
    if resume is not None:
        return _resume_plan(
            name,
            Path(resume),
            data_dir=data_dir,
            precision=precision,
            deterministic=deterministic,
            quiet=quiet,
            download=download,
            overrides=overrides,
        )
    if last.exists():
        raise UsageError(
            f"{run_dir} already holds a run", hint=f"continue it with --resume {run_dir}, or pick another --out"
        )
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    recipe_name = overrides.pop("recipe", None)
    method = overrides.get("method")
    if recipe_name is None and isinstance(method, str) and any(r.name == method for r in spec.recipes):
        recipe_name = method  # a fitting method's own recipe carries its settings
    try:
        recipe = spec.recipe(recipe_name)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    groups = split_overrides(overrides, {"hparams": recipe.resolved(), "data": dataset.options, "config": spec.config})
    hparams = {**recipe.resolved(), **groups["hparams"]}
    _check_hparams(hparams)
    if os.environ.get("ZOO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        download = False
    return Plan(
        spec=spec,
        dataset=dataset,
        recipe=recipe.name,
        hparams=hparams,
        data_options={**dataset.options, **_absolute_paths(groups["data"])},
        config=groups["config"],
        seed=seed,
        data_dir=Path(data_dir) if data_dir is not None else default_data_dir(),
        run_dir=run_dir,
        precision=precision,
        deterministic=deterministic,
        quiet=quiet,
        download=download,
    )


def _resume_plan(
    name: str,
    run_dir: Path,
    *,
    data_dir: str | Path | None,
    precision: str,
    deterministic: bool,
    quiet: bool,
    download: bool,
    overrides: dict[str, Any],
) -> Plan:
    last = run_dir / LAST
    if not last.exists():
        raise UsageError(
            f"cannot resume: {last} does not exist", hint="pass the run folder that holds last.safetensors"
        )
    tensors, meta = read_checkpoint(last)
    if name and name != meta["model"]:
        raise UsageError(f"cannot resume: {run_dir} holds a run of {meta['model']!r}, not {name!r}")
    if "optimizer_state" not in meta and "rng_state" not in meta:
        raise UsageError(f"cannot resume: {last} has no training state")
    registry = get_registry()
    spec = registry.model(meta["model"])
    hparams = dict(meta["hparams"])
    changed = sorted(k for k in overrides if k != "epochs" and overrides[k] != hparams.get(k))
    if changed:
        raise UsageError(
            f"cannot change {', '.join('--' + k.replace('_', '-') for k in changed)} when resuming",
            hint="only --epochs may grow; start a new run for other settings",
        )
    if "epochs" in overrides and int(overrides["epochs"]) != int(hparams["epochs"]):
        if hparams["schedule"] != "none":
            raise UsageError(
                f"cannot change --epochs of a run with schedule {hparams['schedule']!r}: its learning rate "
                "curve was laid out for the original length",
                hint="resume without --epochs, or start a new run",
            )
        hparams["epochs"] = int(overrides["epochs"])
    return Plan(
        spec=spec,
        dataset=registry.dataset(meta.get("dataset", spec.dataset)),
        recipe=meta.get("recipe", spec.default_recipe),
        hparams=hparams,
        data_options=dict(meta.get("data_options", {})),
        config=dict(meta["config"]),
        seed=int(meta.get("seed", 0)),
        data_dir=Path(data_dir) if data_dir is not None else Path(meta.get("data_dir") or default_data_dir()),
        run_dir=run_dir,
        precision=meta.get("precision", precision),
        deterministic=deterministic or meta.get("deterministic") == "True",
        quiet=quiet,
        download=download,
        resume=meta,
        resume_tensors=tensors,
    )


def _absolute_paths(options: dict[str, Any]) -> dict[str, Any]:
    """Relative paths the user gave become absolute, so eval and resume work from any folder."""
    fixed = dict(options)
    for key, value in options.items():
        if isinstance(value, str) and value and not os.path.isabs(value) and os.path.exists(value):
            fixed[key] = os.path.abspath(value)
    return fixed


def _check_hparams(h: dict[str, Any]) -> None:
    if h["optimizer"] not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {h['optimizer']!r}", hint=f"choose from {', '.join(OPTIMIZERS)}")
    if h["schedule"] not in SCHEDULES:
        raise UsageError(f"unknown schedule {h['schedule']!r}", hint=f"choose from {', '.join(SCHEDULES)}")
    if int(h["epochs"]) < 1:
        raise UsageError("--epochs must be at least 1")
    if int(h["batch_size"]) < 0:
        raise UsageError("--batch-size must be 0 (full batch) or more")
    if float(h["lr"]) <= 0 or not math.isfinite(float(h["lr"])):
        raise UsageError(f"--lr must be a positive number, got {h['lr']}")


class _Epoch:
    """The FitContext a strategy sees for one epoch."""

    def __init__(self, trainer: Trainer, epoch: int, skip: int) -> None:
        self.trainer = trainer
        self.model = trainer.model
        self.device = trainer.device
        self.hparams = trainer.plan.hparams
        self.epoch = epoch
        self.rank = trainer.env.rank
        self.world_size = trainer.env.world_size
        self.skip = skip
        self.done = skip  # batches finished in this epoch

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        t = self.trainer
        size = int(self.hparams["batch_size"]) if batch_size is None else batch_size
        planned = plan_batches(len(t.bundle.train), size, t.plan.seed, self.epoch, self.rank, self.world_size)
        t.reporter.start_epoch(self.epoch, len(planned), self.skip)
        for x, y in iterate(t.bundle.train, planned[self.skip :], self.device, t.bundle.transform):
            if t.stop_requested:
                raise _StopRequested
            yield x, y
            self.done += 1
            t.global_step += 1
            t.reporter.advance(int(x.shape[0]) * self.world_size, t.running_loss)
        self.skip = 0

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.trainer.adapter.loss(outputs, targets)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.trainer.train_step(x, y)

    def record(self, loss: torch.Tensor, n: int) -> None:
        self.trainer.record(loss, n)

    def log(self, message: str) -> None:
        self.trainer.reporter.log(message)

    def artifact(self, name: str) -> Path | None:
        if not self.trainer.env.is_main:
            return None
        return self.trainer.plan.run_dir / name


class Trainer:
    def __init__(self, plan: Plan, env: DistEnv, device: str = "auto") -> None:
        self.plan = plan
        self.env = env
        self.device_text = device
        self.stop_requested = False
        self.global_step = 0
        self.start_epoch = 0
        self.skip = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.loss_sum = torch.zeros(())
        self.loss_n = 0

    # -- setup -------------------------------------------------------------
    def setup(self) -> None:
        plan, env = self.plan, self.env
        registry = get_registry()
        backend, index = resolve_device(self.device_text, registry.devices)
        self.backend: DeviceBackend = backend
        self.device = backend.torch_device(env.local_rank if env.enabled and backend.name != "cpu" else index)
        dtype = PRECISIONS[plan.precision]
        if dtype is not None and plan.precision not in backend.autocast_dtypes():
            raise UsageError(
                f"--precision {plan.precision} is not supported on {backend.name}",
                hint=f"supported: fp32, {', '.join(backend.autocast_dtypes()) or 'nothing else'}",
            )
        self.autocast_dtype = dtype
        if plan.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif backend.name == "cuda":
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(plan.seed)

        loader = resolve(plan.dataset.loader)
        request = DataRequest(dict(plan.data_options), plan.data_dir, plan.seed, plan.download)
        bundle: DataBundle = loader(request)
        env.check_data(len(bundle.train))
        size = int(plan.hparams["batch_size"])
        if env.enabled and 0 < size < env.world_size:
            raise UsageError(
                f"a batch of {size} cannot be shared by {env.world_size} processes (the batch size is global)",
                hint=f"use --batch-size {env.world_size} or more, or --batch-size 0 for the full batch",
            )
        self.bundle = bundle
        spec = plan.spec
        self.adapter: ModelAdapter = resolve(spec.adapter)(spec) if spec.adapter else ModelAdapter(spec)
        strategies = self.adapter.strategies()
        method = plan.hparams["method"]
        if method not in strategies:
            raise UsageError(
                f"{spec.full_name} has no fitting method {method!r}", hint=f"methods: {', '.join(sorted(strategies))}"
            )
        self.strategy: Strategy = strategies[method]
        self.config = {**dict(spec.config), **bundle.config, **plan.config}
        if plan.resume is not None:
            self.config = dict(plan.resume["config"])
        env.init(backend)  # after every check that can fail the same way on all ranks
        torch.manual_seed(plan.seed)
        self.module = build_model(spec, self.config).to(self.device)
        self.bundle.train = to_device(bundle.train, self.device)  # type: ignore[assignment]
        self.bundle.val = to_device(bundle.val, self.device)
        self.model: nn.Module = self.module
        if env.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.module, device_ids=ids)
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.scaler: Any = None
        if method not in self.adapter.optimizer_free:
            self._make_optimizer()
        self.loss_sum = torch.zeros((), device=self.device)
        self.reporter = Reporter(enabled=env.is_main, quiet=plan.quiet)
        if plan.resume is not None:
            self._restore(plan.resume, plan.resume_tensors)

    def _make_optimizer(self) -> None:
        h = self.plan.hparams
        params = self.module.parameters()
        lr, wd = float(h["lr"]), float(h["weight_decay"])
        if h["optimizer"] == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=lr, momentum=float(h["momentum"]), weight_decay=wd)
        elif h["optimizer"] == "adam":
            self.optimizer = torch.optim.Adam(params, lr=lr, weight_decay=wd)
        else:
            self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
        steps = self.steps_per_epoch() * int(h["epochs"])
        if h["schedule"] == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(steps, 1))
        elif h["schedule"] == "onecycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=lr, total_steps=max(steps, 1))
        if self.autocast_dtype == torch.float16 and self.device.type == "cuda":
            self.scaler = torch.amp.GradScaler("cuda")

    def steps_per_epoch(self) -> int:
        n, size = len(self.bundle.train), int(self.plan.hparams["batch_size"])
        return len(plan_batches(n, size, 0, 0, 0, self.env.world_size, shuffle=False))

    # -- the loop ----------------------------------------------------------
    def autocast(self) -> Any:
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.optimizer is None:
            raise UsageError(f"method {self.plan.hparams['method']!r} does not use an optimizer")
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
        loss = loss.detach()
        self.record(loss, int(x.shape[0]))
        return loss

    def record(self, loss: torch.Tensor, n: int) -> None:
        self.loss_sum = self.loss_sum + loss.detach().float() * n
        self.loss_n += n

    def running_loss(self) -> torch.Tensor | None:
        return self.loss_sum / self.loss_n if self.loss_n else None

    def evaluate(self) -> dict[str, Any]:
        split: Split = self.bundle.val if self.bundle.val is not None else self.bundle.train
        return evaluate_split(
            self.module,
            self.adapter,
            split,
            self.bundle,
            self.device,
            int(self.plan.hparams["batch_size"]),
            self.env,
            self.autocast,
        )

    def fit(self) -> Run:
        plan, env = self.plan, self.env
        if env.is_main:
            plan.run_dir.mkdir(parents=True, exist_ok=True)
            self.reporter.header(plan, self.backend.name, self.device, self.bundle, env.world_size)
        env.barrier()
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._on_sigint)
        epoch = self.start_epoch
        try:
            for epoch in range(self.start_epoch, int(plan.hparams["epochs"])):
                self._one_epoch(epoch)
        except _StopRequested:
            self.save_last(epoch, ctx_done=self._ctx.done)
            env.barrier()
            self.reporter.close()
            raise Interrupted(
                f"interrupted during epoch {epoch + 1}; state saved to {plan.run_dir / LAST}",
                hint=f"continue with: zoo train {plan.spec.full_name} --resume {plan.run_dir}",
            ) from None
        finally:
            signal.signal(signal.SIGINT, previous)
            self.reporter.close()
        if env.is_main:
            from zoo.plots import try_plot

            note = try_plot(plan.run_dir)
            if note:
                self.reporter.log(note)
        return Run(plan.run_dir, plan.spec, self.module, self.history, self.best, env.is_main)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.stop_requested = True

    def _one_epoch(self, epoch: int) -> None:
        started = time.perf_counter()
        self.model.train()
        if self.skip == 0:
            self.loss_sum = torch.zeros((), device=self.device)
            self.loss_n = 0
        self._ctx = _Epoch(self, epoch, self.skip)
        self.strategy(self._ctx)
        self.skip = 0
        totals = self.env.all_sum(
            {"loss": self.loss_sum.reshape(1).double(), "n": torch.tensor([float(self.loss_n)], device=self.device)}
        )
        train_loss = float(totals["loss"].item() / max(totals["n"].item(), 1.0))
        if not math.isfinite(train_loss):
            raise TrainingError(
                f"the training loss became {train_loss} in epoch {epoch + 1}; stopped without saving this epoch",
                hint=f"the last good checkpoint is {self.plan.run_dir / LAST}; try a lower --lr",
            )
        metrics = {f"val_{k}": v for k, v in self.evaluate().items()}
        seconds = time.perf_counter() - started
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": self.global_step,
            "train_loss": train_loss,
            **metrics,
            "lr": self._lr(),
            "seconds": round(seconds, 4),
            "samples_per_s": round(float(totals["n"].item()) / seconds, 1) if seconds > 0 else None,
            "eval_split": "val" if self.bundle.val is not None else "train",
        }
        self.history.append(record)
        key, mode = self.adapter.main_metric
        value = record.get(f"val_{key}")
        improved = value is not None and (
            self.best is None or (value < self.best["value"] if mode == "min" else value > self.best["value"])
        )
        if improved:
            self.best = {"metric": f"val_{key}", "value": value, "epoch": epoch + 1}
        if self.env.is_main:
            with open(self.plan.run_dir / METRICS, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            if improved:
                self.save_best(epoch, record)
        self.save_last(epoch + 1, ctx_done=0)
        self.env.barrier()
        report = self.adapter.epoch_report(self.module, self.bundle, self.device) if self.env.is_main else None
        self.reporter.end_epoch(record, int(self.plan.hparams["epochs"]), report)

    def _lr(self) -> float | None:
        if self.optimizer is None:
            return None
        return float(self.optimizer.param_groups[0]["lr"])

    # -- checkpoints -------------------------------------------------------
    def _metadata(self, epoch: int, record: dict[str, Any] | None) -> dict[str, Any]:
        plan = self.plan
        meta = base_metadata(plan.spec, self.config)
        meta.update(
            recipe=plan.recipe,
            hparams=plan.hparams,
            seed=plan.seed,
            epoch=epoch,
            step=self.global_step,
            metrics=record or (self.history[-1] if self.history else {}),
            dataset=plan.dataset.full_name,
            data_options=plan.data_options,
            data_meta=self.bundle.meta,
            data_dir=str(plan.data_dir),
            precision=plan.precision,
            deterministic=plan.deterministic,
            device=str(self.device),
            world_size=self.env.world_size,
        )
        return meta

    def save_best(self, epoch: int, record: dict[str, Any]) -> None:
        save_checkpoint(self.plan.run_dir / BEST, self.module, self._metadata(epoch + 1, record))

    def save_last(self, epoch: int, ctx_done: int) -> None:
        """Weights plus everything needed to continue exactly where we are."""
        if not self.env.is_main:
            return
        meta = self._metadata(epoch, None)
        tensors: dict[str, torch.Tensor] = {}
        if self.optimizer is not None:
            t, skeleton = flatten_state("optim", self.optimizer.state_dict())
            tensors.update(t)
            meta["optimizer_state"] = skeleton
        if self.scheduler is not None:
            t, skeleton = flatten_state("sched", self.scheduler.state_dict())
            tensors.update(t)
            meta["scheduler_state"] = skeleton
        if self.scaler is not None:
            meta["scaler_state"] = self.scaler.state_dict()
        rng_tensors, rng_info = capture_rng()
        tensors.update(rng_tensors)
        meta["rng_state"] = rng_info
        meta["step_in_epoch"] = ctx_done
        meta["partial_loss"] = float(self.loss_sum.item()) if ctx_done else 0.0
        meta["partial_n"] = self.loss_n if ctx_done else 0
        meta["history_best"] = self.best
        save_checkpoint(self.plan.run_dir / LAST, self.module, meta, tensors)

    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        last = self.plan.run_dir / LAST
        restore_weights(self.module, tensors, last, self.plan.spec.full_name)
        if self.optimizer is not None and "optimizer_state" in meta:
            state = unflatten_state("optim", tensors, meta["optimizer_state"])
            self.optimizer.load_state_dict(state)
        if self.scheduler is not None and "scheduler_state" in meta:
            self.scheduler.load_state_dict(unflatten_state("sched", tensors, meta["scheduler_state"]))
        if self.scaler is not None and "scaler_state" in meta:
            self.scaler.load_state_dict(meta["scaler_state"])
        if "rng_state" in meta:
            restore_rng(tensors, meta["rng_state"])
        self.start_epoch = int(meta["epoch"])
        self.global_step = int(meta.get("step", 0))
        self.skip = int(meta.get("step_in_epoch", 0))
        self.best = meta.get("history_best")
        if self.skip:
            self.loss_sum = torch.tensor(float(meta.get("partial_loss", 0.0)), device=self.device)
            self.loss_n = int(meta.get("partial_n", 0))
        self.history = _read_history(self.plan.run_dir / METRICS, self.start_epoch)
        if self.env.is_main:
            # Drop lines of epochs after the checkpoint (a crash between log and save).
            with open(self.plan.run_dir / METRICS, "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in self.history)


def _read_history(path: Path, upto: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if int(row.get("epoch", 0)) <= upto:
                rows.append(row)
    return rows


def evaluate_split(
    model: nn.Module,
    adapter: ModelAdapter,
    split: Split,
    bundle: DataBundle,
    device: torch.device,
    batch_size: int,
    env: DistEnv,
    autocast: Any = nullcontext,
) -> dict[str, Any]:
    """Loss and task metrics over a split, summed across ranks."""
    was_training = model.training
    model.eval()
    size = 0 if batch_size <= 0 else max(batch_size, 1024)
    planned = plan_batches(len(split), size, 0, 0, env.rank, env.world_size, shuffle=False)
    sums: dict[str, torch.Tensor] = {}
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    with torch.no_grad():
        for x, y in iterate(split, planned, device, bundle.transform):
            with autocast():
                outputs = model(x)
            outputs = outputs.float()
            loss_sum += adapter.loss(outputs, y).double() * y.shape[0]
            for k, v in adapter.batch_stats(outputs, y, bundle.num_classes).items():
                sums[k] = sums[k] + v if k in sums else v
    sums["loss_sum"] = loss_sum
    sums = env.all_sum(sums)
    metrics: dict[str, Any] = {"loss": float(sums["loss_sum"].item()) / max(float(sums["n"].item()), 1.0)}
    metrics.update(adapter.finalize(sums))
    model.train(was_training)
    return metrics


def train(
    name: str,
    *,
    seed: int = 0,
    device: str = "auto",
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    precision: str = "fp32",
    deterministic: bool = False,
    quiet: bool = False,
    download: bool = True,
    **overrides: Any,
) -> Run:
    """Train ``name`` (see ``zoo train --help``); under torchrun, with DDP."""
    env = DistEnv.from_environ()
    plan = make_plan(
        name,
        seed=seed,
        data_dir=data_dir,
        out=out,
        resume=resume,
        precision=precision,
        deterministic=deterministic,
        quiet=quiet,
        download=download,
        env=env,
        **overrides,
    )
    trainer = Trainer(plan, env, device=device)
    try:
        trainer.setup()
        return trainer.fit()
    finally:
        env.close()
