"""Which samples go in which batch, and fetching them onto the device.

The order of an epoch depends only on (seed, epoch), never on earlier draws, so a
resumed run, a DataLoader run and a run over several processes all see the same
batches. With several processes each global batch is cut into equal-ish parts, one
per rank: the batch size and learning rate mean the same whatever the world size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from zoo.contracts.data import Batch, LoaderSplit, Split, TensorSplit


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    if not shuffle:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator)


def plan_batches(
    n: int,
    batch_size: int,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    shuffle: bool = True,
) -> list[torch.Tensor]:
    """Index tensors of this rank's share of every global batch of the epoch.

    ``batch_size`` 0 (or more than ``n``) means the whole split at once. Under
    several processes a final batch too small to give every rank a sample is dropped.
    """
    order = epoch_order(n, seed, epoch, shuffle)
    size = n if batch_size <= 0 or batch_size > n else batch_size
    batches = list(order.split(size))
    if world_size > 1:
        batches = [b.tensor_split(world_size)[rank] for b in batches if b.numel() >= world_size]
    return batches


def iterate(
    split: Split,
    batches: list[torch.Tensor],
    device: torch.device,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[Batch]:
    """Yield ``(x, y)`` on the device for the planned batches."""
    source: Iterator[Batch]
    if isinstance(split, TensorSplit):
        where = split.x.device
        source = ((split.x[i], split.y[i]) for i in (idx.to(where) for idx in batches))
    else:
        assert isinstance(split, LoaderSplit)
        source = iter(split.make(batches))
    for x, y in source:
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        yield (transform(x) if transform is not None else x), y


def to_device(split: Split | None, device: torch.device) -> Split | None:
    """Move an in-memory split to the device once, so batches are slices, not copies."""
    if isinstance(split, TensorSplit):
        return TensorSplit(split.x.to(device), split.y.to(device))
    return split
