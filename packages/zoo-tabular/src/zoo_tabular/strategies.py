"""Fitting strategies for y = w*x (+ b) that do not need autograd or an optimizer.

They reproduce the notes: exhaustive grid search, batch gradient descent, stochastic
gradient descent and mini-batches, each with the MSE gradient written out by hand:

    dL/dw = 2/n * sum((w*x + b - y) * x)        dL/db = 2/n * sum(w*x + b - y)

They run inside the trainer like any strategy, so the run folder, metrics, progress,
checkpoints and plots are the same as for autograd runs. Each method also appends a
line per epoch to ``fit.csv`` in the run folder: the epoch, the method that ran and
how many updates it made to the weights.
"""

from __future__ import annotations

import csv
import math
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from zoo.plugin import FitContext, UsageError
from zoo_tabular.plots import plot_curve, plot_surface


def line_of(model: nn.Module) -> nn.Linear:
    """The ``nn.Linear`` inside ``model`` (unwrapping DDP); only y = w*x (+ b) models qualify."""
    inner = getattr(model, "module", model)
    if not isinstance(inner, nn.Linear) or inner.out_features != 1:
        raise UsageError(
            "this fitting method works on y = w*x (+ b) models only",
            hint="use --method autograd for other models",
        )
    return inner


def _sum_over_ranks(ctx: FitContext, *values: torch.Tensor) -> list[torch.Tensor]:
    """Add tensors across processes so every rank takes the same step."""
    if ctx.world_size > 1 and dist.is_available() and dist.is_initialized():
        for value in values:
            dist.all_reduce(value)
    return list(values)


def hand_step(ctx: FitContext, x: torch.Tensor, y: torch.Tensor) -> None:
    """One gradient step on a batch with the hand-written MSE gradient; records the loss before it."""
    line = line_of(ctx.model)
    lr = float(ctx.hparams["lr"])
    with torch.no_grad():
        x = x.float().reshape(len(x), -1)
        y = y.float().reshape(len(y), 1)
        w = line.weight.float()  # (1, features)
        b = line.bias.float() if line.bias is not None else torch.zeros(1, device=x.device)
        err = (x * w).sum(dim=1, keepdim=True) + b - y  # elementwise, so autocast leaves it in fp32
        sq, grad_w, grad_b = err.pow(2).sum(), 2 * (err * x).sum(dim=0, keepdim=True), 2 * err.sum()
        n = torch.tensor(float(len(x)), device=x.device)
        n_all, grad_w, grad_b = _sum_over_ranks(ctx, n.clone(), grad_w, grad_b)
        line.weight.sub_((lr * grad_w / n_all).to(line.weight.dtype))
        if line.bias is not None:
            line.bias.sub_((lr * grad_b / n_all).reshape(1).to(line.bias.dtype))
    ctx.record(sq / n, len(x))


TRACE = "fit.csv"


def trace(ctx: FitContext, method: str, updates: int) -> None:
    """Append ``epoch,method,updates`` to the run folder's fit.csv (rank 0 only)."""
    path = ctx.artifact(TRACE)
    if path is None:
        return
    new = not path.exists()
    with open(path, "a", encoding="utf-8", newline="") as handle:
        if new:
            handle.write("epoch,method,updates\n")
        handle.write(f"{ctx.epoch + 1},{method},{updates}\n")


def autograd(ctx: FitContext) -> None:
    """The ordinary loop (mini-batches, autograd, the optimizer), traced like the others."""
    steps = 0
    for x, y in ctx.batches():
        ctx.train_step(x, y)
        steps += 1
    trace(ctx, "autograd", steps)


def _steps(ctx: FitContext, batch_size: int | None, method: str) -> None:
    steps = 0
    for x, y in ctx.batches(batch_size):
        hand_step(ctx, x, y)
        steps += 1
    trace(ctx, method, steps)
    if steps == 0:
        size = ctx.hparams["batch_size"] if batch_size is None else batch_size
        raise UsageError(
            f"no batch to train on: batches of {size} cannot be shared among {ctx.world_size} processes",
            hint="run one process, or use --method minibatch with --batch-size at least the process count",
        )


def gradient_descent(ctx: FitContext) -> None:
    """Batch gradient descent: one step per epoch on the mean gradient of every sample."""
    _steps(ctx, 0, "gd")


def stochastic_gradient_descent(ctx: FitContext) -> None:
    """One step per sample, in a new random order each epoch."""
    _steps(ctx, 1, "sgd")


def minibatch_gradient_descent(ctx: FitContext) -> None:
    """One step per shuffled mini-batch of ``--batch-size`` samples (0 = the full batch)."""
    _steps(ctx, None, "minibatch")


#: Points a grid search may evaluate (and rows grid.csv may get): about 8 MB of CSV.
MAX_GRID_POINTS = 250_000


def grid_values(hparams: dict[str, Any], axes: int = 1) -> list[float]:
    """grid_min, grid_min + grid_step, ... grid_max (both ends included), checked for size first.

    The search evaluates len(values) ** axes points, so the bound is on that product:
    a step that looks harmless on one axis is squared on the (w, b) surface.
    """
    lo = float(hparams.get("grid_min", 0.0))
    hi = float(hparams.get("grid_max", 4.0))
    step = float(hparams.get("grid_step", 0.1))
    if not all(math.isfinite(v) for v in (lo, hi, step)) or step <= 0 or hi < lo:
        raise UsageError(
            f"the grid needs finite bounds, "
            f"grid_step > 0 and grid_max >= grid_min: got {lo}..{hi} step {step}"
        )
    count = math.floor((hi - lo) / step + 1e-9) + 1
    if count**axes > MAX_GRID_POINTS:
        largest = (hi - lo) / (math.floor(MAX_GRID_POINTS ** (1 / axes)) - 1)
        raise UsageError(
            f"the grid {lo:g}..{hi:g} step {step:g} has {count} values per axis, {count**axes:,} points over "
            f"{axes} ax{'i' if axes == 1 else 'e'}s; at most {MAX_GRID_POINTS:,}",
            hint=f"use --grid-step {largest:.3g} or more, or a narrower --grid-min/--grid-max",
        )
    return [round(lo + i * step, 10) for i in range(count)]


def _decimals(values: list[float]) -> int:
    """Digits after the point that show every grid value exactly (1 for a 0.1 step)."""
    for digits in range(7):
        if all(abs(v - round(v, digits)) < 1e-9 for v in values):
            return digits
    return 7


def grid_search(ctx: FitContext) -> None:
    """Try every w (and b) on the grid, log each MSE, keep the best; write grid.csv and plots.

    The search is exhaustive, so only the first epoch searches; any later epoch just
    measures the loss at the point found (the result could not change).
    """
    line = line_of(ctx.model)
    if line.in_features != 1:
        raise UsageError("grid search scans one weight: the data must have a single feature column")
    batches = list(ctx.batches(0))
    x = torch.cat([bx.float().reshape(-1) for bx, _ in batches])
    y = torch.cat([by.float().reshape(-1) for _, by in batches])
    if ctx.epoch > 0:
        with torch.no_grad():
            bias = line.bias.float() if line.bias is not None else 0.0
            ctx.record((line.weight.float().reshape(()) * x + bias - y).pow(2).mean(), len(x))
        trace(ctx, "grid", 0)
        return
    values = grid_values(ctx.hparams, 2 if line.bias is not None else 1)
    ws = torch.tensor(values, device=x.device)
    bs = ws if line.bias is not None else torch.zeros(1, device=x.device)
    with torch.no_grad():
        # One row of the (w, b) table at a time keeps memory at len(bs) * samples.
        sq = torch.stack([((w * x[None, :] + bs[:, None]) - y).pow(2).sum(dim=-1) for w in ws])
        n = torch.tensor(float(len(x)), device=x.device)
        sq, n = _sum_over_ranks(ctx, sq, n)
        mse = (sq / n).cpu()
        best = int(torch.argmin(mse))  # the first minimum, scanning w then b
        wi, bi = divmod(best, mse.shape[1])
        line.weight.fill_(values[wi])
        if line.bias is not None:
            line.bias.fill_(values[bi])
    best_w, best_b = values[wi], (values[bi] if line.bias is not None else None)
    _report_grid(ctx, values, mse, best_w, best_b)
    ctx.record(mse[wi, bi].to(x.device), len(x))
    trace(ctx, "grid", 1)  # one update: the weights jump to the best grid point


def _report_grid(
    ctx: FitContext, values: list[float], mse: torch.Tensor, best_w: float, best_b: float | None
) -> None:
    rows = mse.tolist()
    d = _decimals(values)
    if best_b is None:
        for w, (loss,) in zip(values, rows):
            ctx.log(f"w={w:.{d}f}  MSE={loss:.6g}")
        ctx.log(f"best w={best_w:.{d}f}  MSE={mse.min().item():.6g}")
    else:
        for w, row in zip(values, rows):
            j = min(range(len(row)), key=row.__getitem__)
            ctx.log(f"w={w:.{d}f}  lowest MSE over b: b={values[j]:.{d}f}  MSE={row[j]:.6g}")
        ctx.log(f"best w={best_w:.{d}f}  b={best_b:.{d}f}  MSE={mse.min().item():.6g}")

    table = ctx.artifact("grid.csv")
    if table is not None:
        with open(table, "w", newline="") as handle:
            out = csv.writer(handle)
            if best_b is None:
                out.writerow(["w", "mse"])
                out.writerows([w, f"{row[0]:.10g}"] for w, row in zip(values, rows))
            else:
                out.writerow(["w", "b", "mse"])
                out.writerows(
                    [w, b, f"{loss:.10g}"] for w, row in zip(values, rows) for b, loss in zip(values, row)
                )
    if best_b is None:
        picture = ctx.artifact("grid.png")
        if picture is not None and plot_curve(picture, values, [r[0] for r in rows], best_w):
            ctx.log(f"wrote {picture}")
    else:
        picture = ctx.artifact("surface.png")
        if picture is not None and plot_surface(picture, values, values, rows, (best_w, best_b)):
            ctx.log(f"wrote {picture}")
