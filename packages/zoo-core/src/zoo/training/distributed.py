"""torch.distributed as the trainer sees it: who am I, add these up, wait for the others.

zoo writes no launcher: under ``torchrun`` the environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR…) says everything, and a plain process is a world of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from zoo.backend import DeviceBackend
from zoo.errors import DeviceError, UsageError


@dataclass
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    restart_count: int = 0
    run_id: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environ(cls) -> DistEnv:
        env = os.environ
        world = int(env.get("WORLD_SIZE", "1"))
        return cls(
            rank=int(env.get("RANK", "0")),
            local_rank=int(env.get("LOCAL_RANK", "0")),
            world_size=world,
            restart_count=int(env.get("TORCHELASTIC_RESTART_COUNT", "0")),
            run_id=env.get("TORCHELASTIC_RUN_ID"),
        )

    def init(self, backend: DeviceBackend) -> None:
        """Join the process group with the device's own collective backend."""
        if not self.enabled or dist.is_initialized():
            return
        if backend.distributed is None:
            raise DeviceError(
                f"device {backend.name!r} has no torch.distributed backend; it cannot train with "
                f"{self.world_size} processes",
                hint="run a single process, or use --device cpu (gloo) / cuda (nccl) / npu (hccl)",
            )
        if backend.distributed == "nccl" and backend.count() < 1:
            raise DeviceError("nccl needs CUDA GPUs and none is available", hint="use --device cpu for gloo")
        if backend.name != "cpu" and self.local_rank >= backend.count():
            raise DeviceError(
                f"local rank {self.local_rank} has no {backend.name} device: only {backend.count()} here",
                hint="start no more processes per node than there are devices",
            )
        if backend.name == "cuda":
            torch.cuda.set_device(self.local_rank)
        if backend.distributed == "gloo":
            # Connect peers at the first collective rather than in init: after an elastic
            # restart the eager full-mesh connect can race the peers' new listeners.
            os.environ.setdefault("TORCH_GLOO_LAZY_INIT", "1")
        dist.init_process_group(backend=backend.distributed)

    def check_data(self, samples: int) -> None:
        if self.enabled and samples < self.world_size:
            raise UsageError(
                f"the training split has {samples} samples but there are {self.world_size} processes",
                hint="use fewer processes than samples",
            )

    def all_sum(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Sum each tensor over ranks (one collective for all scalars and vectors)."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        flat = torch.cat([values[k].reshape(-1).double() for k in keys])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        out: dict[str, torch.Tensor] = {}
        offset = 0
        for k in keys:
            n = values[k].numel()
            out[k] = flat[offset : offset + n].reshape(values[k].shape).to(values[k].dtype)
            offset += n
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self, finished: bool = True) -> None:
        """Leave the group; after a finished run, only once every rank is done with it.

        Tearing gloo down while a peer still reads from its pairs aborts that peer's
        process at exit ("terminate called without an active exception"). After an
        error a barrier could wait forever on a dead peer, so none is taken then.
        """
        if self.enabled and dist.is_initialized():
            if finished:
                dist.barrier()
            dist.destroy_process_group()
