"""Device backends: what zoo needs to know about cpu, cuda, mps, npu and any plugin's.

A backend is a small object registered through ``zoo_register_devices``. Nothing
imports torch until a question is asked, and ``npu`` imports ``torch_npu`` only when
it is installed and asked about, because that import is slow and patches torch.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zoo.errors import DeviceError

if TYPE_CHECKING:
    import torch

AUTO_ORDER = ("cuda", "npu", "mps", "cpu")


@dataclass
class DeviceReport:
    """What ``zoo devices`` prints for one backend."""

    name: str
    available: bool
    reason: str
    count: int
    names: list[str]
    autocast: list[str]
    distributed: str | None
    memory_in_use: int | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class DeviceBackend:
    """One kind of device. Subclasses override what differs."""

    name = "cpu"
    #: torch.distributed backend, or None where the device has none.
    distributed: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, distributed={self.distributed!r})"

    def availability(self) -> tuple[bool, str]:
        """(available, reason); the reason says why not, or what was found."""
        return True, "always available"

    def count(self) -> int:
        return 1 if self.availability()[0] else 0

    def device_names(self) -> list[str]:
        return []

    def torch_device(self, index: int = 0) -> torch.device:
        import torch

        return torch.device(self.name if self.name == "cpu" else f"{self.name}:{index}")

    def synchronize(self) -> None:
        """Wait for queued work; timings are wrong without it on asynchronous devices."""

    def autocast_dtypes(self) -> list[str]:
        return []

    def memory_in_use(self) -> int | None:
        """Bytes allocated by torch on the device, where the platform tells."""
        return None

    def report(self) -> DeviceReport:
        ok, reason = self.availability()
        return DeviceReport(
            name=self.name,
            available=ok,
            reason=reason,
            count=self.count() if ok else 0,
            names=self.device_names() if ok else [],
            autocast=self.autocast_dtypes() if ok else [],
            distributed=self.distributed,
            memory_in_use=self.memory_in_use() if ok else None,
        )


class CpuBackend(DeviceBackend):
    name = "cpu"
    distributed = "gloo"

    def device_names(self) -> list[str]:
        import platform

        return [platform.processor() or platform.machine()]

    def autocast_dtypes(self) -> list[str]:
        return ["bf16", "fp16"]


class CudaBackend(DeviceBackend):
    name = "cuda"
    distributed = "nccl"

    def availability(self) -> tuple[bool, str]:
        import torch

        if not torch.backends.cuda.is_built():
            return False, "this torch build has no CUDA support"
        if not torch.cuda.is_available():
            return False, "no CUDA device or driver found"
        return True, f"CUDA {torch.version.cuda}"

    def count(self) -> int:
        import torch

        return int(torch.cuda.device_count())

    def device_names(self) -> list[str]:
        import torch

        return [torch.cuda.get_device_name(i) for i in range(self.count())]

    def synchronize(self) -> None:
        import torch

        torch.cuda.synchronize()

    def autocast_dtypes(self) -> list[str]:
        import torch

        return ["fp16", "bf16"] if torch.cuda.is_bf16_supported() else ["fp16"]

    def memory_in_use(self) -> int | None:
        import torch

        return int(torch.cuda.memory_allocated())


class MpsBackend(DeviceBackend):
    name = "mps"
    distributed = None

    def availability(self) -> tuple[bool, str]:
        import torch

        if not torch.backends.mps.is_built():
            return False, "this torch build has no MPS support (Apple silicon only)"
        if not torch.backends.mps.is_available():
            return False, "MPS is built but no Metal device is available"
        return True, "Apple Metal"

    def torch_device(self, index: int = 0) -> torch.device:
        import torch

        return torch.device("mps")

    def synchronize(self) -> None:
        import torch

        torch.mps.synchronize()

    def autocast_dtypes(self) -> list[str]:
        return ["fp16", "bf16"]

    def memory_in_use(self) -> int | None:
        import torch

        return int(torch.mps.current_allocated_memory())


class NpuBackend(DeviceBackend):
    """Ascend NPUs through torch_npu, which registers the ``npu`` device with torch."""

    name = "npu"
    distributed = "hccl"

    def _module(self) -> Any:
        if importlib.util.find_spec("torch_npu") is None:
            return None
        import torch
        import torch_npu  # noqa: F401  (importing registers torch.npu)

        return getattr(torch, "npu", None)

    def availability(self) -> tuple[bool, str]:
        if importlib.util.find_spec("torch_npu") is None:
            return False, "torch_npu is not installed (pip install 'zoo-core[npu]')"
        try:
            npu = self._module()
        except Exception as exc:  # a broken CANN install should not hide the other devices
            return False, f"torch_npu failed to import: {exc}"
        if npu is None or not npu.is_available():
            return False, "torch_npu is installed but no Ascend device is available"
        return True, "Ascend via torch_npu"

    def count(self) -> int:
        return int(self._module().device_count())

    def device_names(self) -> list[str]:
        npu = self._module()
        return [str(npu.get_device_name(i)) for i in range(self.count())]

    def synchronize(self) -> None:
        self._module().synchronize()

    def autocast_dtypes(self) -> list[str]:
        return ["fp16", "bf16"]

    def memory_in_use(self) -> int | None:
        return int(self._module().memory_allocated())


def parse_device(text: str) -> tuple[str, int | None]:
    """``"cuda:1"`` -> ("cuda", 1); ``"cpu"`` -> ("cpu", None)."""
    name, _, index = text.partition(":")
    if index and not index.isdigit():
        raise DeviceError(f"device {text!r} is not NAME or NAME:INDEX")
    return name.strip().lower(), int(index) if index else None


def resolve_device(text: str, backends: dict[str, DeviceBackend]) -> tuple[DeviceBackend, int]:
    """Pick the backend for ``--device``; unavailable ones are an error listing what is."""
    name, index = parse_device(text or "auto")
    if name == "auto":
        order = [n for n in AUTO_ORDER if n in backends] + [n for n in backends if n not in AUTO_ORDER]
        for candidate in order:
            if backends[candidate].availability()[0]:
                return backends[candidate], index or 0
        raise DeviceError("no device is available")
    available = [n for n, b in backends.items() if b.availability()[0]]
    if name not in backends:
        raise DeviceError(
            f"unknown device {name!r}", hint=f"known devices: {', '.join(backends)}; available: {', '.join(available)}"
        )
    backend = backends[name]
    ok, reason = backend.availability()
    if not ok:
        raise DeviceError(f"device {name!r} is not available: {reason}", hint=f"available: {', '.join(available)}")
    if index is not None and index >= backend.count():
        raise DeviceError(f"device {text!r} does not exist: {name} has {backend.count()} device(s)")
    return backend, index or 0


def torch_device(text: str, backends: dict[str, DeviceBackend]) -> torch.device:
    """The torch device for ``--device`` text (``auto``, ``cpu``, ``cuda:1``) among ``backends``."""
    backend, index = resolve_device(text, backends)
    return backend.torch_device(index)
