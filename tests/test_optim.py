"""zoo.training.optim: torch.optim's updates bit for bit, without importing torch._dynamo."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from zoo_testkit import Runner

from zoo.training import optim

Build = Callable[[Any], torch.optim.Optimizer]

KINDS: dict[str, tuple[type[torch.optim.Optimizer], type[torch.optim.Optimizer], dict[str, Any]]] = {
    "sgd": (optim.SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}),
    "sgd-nesterov": (optim.SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "sgd-plain": (optim.SGD, torch.optim.SGD, {"lr": 0.05}),
    "adam": (optim.Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 1e-3}),
    "adam-amsgrad": (optim.Adam, torch.optim.Adam, {"lr": 0.01, "amsgrad": True}),
    "adamw": (optim.AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.05}),
}


def _model() -> torch.nn.Module:
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _steps(model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any, n: int, seed: int) -> list[float]:
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(n):
        x, y = torch.randn(16, 4, generator=gen), torch.randn(16, 1, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def _pair(kind: str) -> list[tuple[torch.nn.Module, torch.optim.Optimizer, Any]]:
    ours, theirs, kwargs = KINDS[kind]
    out = []
    for cls in (ours, theirs):
        model = _model()
        opt = cls(model.parameters(), **kwargs)
        out.append((model, opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=kwargs["lr"], total_steps=40)))
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_updates_and_state_match_torch_optim_bit_for_bit(kind: str) -> None:
    (m1, o1, s1), (m2, o2, s2) = _pair(kind)
    assert isinstance(o1, type(o2)), "schedulers and GradScaler check isinstance"
    assert _steps(m1, o1, s1, 12, seed=0) == _steps(m2, o2, s2, 12, seed=0)
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p1, p2)
    sd1, sd2 = o1.state_dict(), o2.state_dict()
    assert sd1["param_groups"] == sd2["param_groups"]
    assert sd1["state"].keys() == sd2["state"].keys()
    for key, state in sd1["state"].items():
        assert state.keys() == sd2["state"][key].keys()
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(sd2["state"][key][name])), (key, name)


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_state_moves_both_ways_between_zoo_and_torch_optim(kind: str) -> None:
    """Checkpoints written before zoo.training.optim existed hold torch.optim state; they must resume exactly."""
    (m1, o1, s1), (m2, o2, s2) = _pair(kind)
    _steps(m2, o2, s2, 5, seed=1)
    m1.load_state_dict(m2.state_dict())
    o1.load_state_dict(copy.deepcopy(o2.state_dict()))  # a copy, as a file gives: no shared buffers
    s1.load_state_dict(s2.state_dict())
    assert _steps(m1, o1, s1, 6, seed=2) == _steps(m2, o2, s2, 6, seed=2)
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))
    assert _steps(m1, o1, s1, 3, seed=4) == _steps(m2, o2, s2, 3, seed=4)


def test_step_runs_without_grad_even_when_grad_is_on() -> None:
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(2, 4)).sum().backward()
    with torch.enable_grad():
        opt.step()  # an in-place update of a leaf that requires grad fails unless grad is off
    assert torch.is_grad_enabled()


def test_make_optimizer_builds_each_name_and_refuses_others() -> None:
    params = list(_model().parameters())
    assert type(optim.make_optimizer("sgd", params, 0.1, 0.9, 0.0)) is optim.SGD
    assert optim.make_optimizer("sgd", params, 0.1, 0.9, 0.0).param_groups[0]["momentum"] == 0.9
    assert type(optim.make_optimizer("adam", params, 0.1, 0.9, 0.0)) is optim.Adam
    assert type(optim.make_optimizer("adamw", params, 0.1, 0.9, 0.01)) is optim.AdamW
    with pytest.raises(ValueError, match="rmsprop"):
        optim.make_optimizer("rmsprop", params, 0.1, 0.9, 0.0)


_IMPORTED = re.compile(r"^import time:.*\|\s*(\S+)$", re.M)


@pytest.mark.parametrize("model", ["toy.mlp", "toy.line"])
def test_training_and_resuming_never_import_torch_dynamo(
    zoo_cli: Runner, toy_site: Path, tmp_path: Path, model: str
) -> None:
    """torch._dynamo costs seconds to import; a CLI run (SGD or Adam, save, resume) must not pay it."""
    profile = {"PYTHONPROFILEIMPORTTIME": "1"}
    out = tmp_path / "run"
    first = zoo_cli("train", model, "--out", str(out), "--epochs", "2", "-q", sites=(toy_site,), env=profile)
    assert first.returncode == 0, first.stderr[-3000:]
    again = zoo_cli("train", "--resume", str(out), "--epochs", "3", "-q", sites=(toy_site,), env=profile)
    assert again.returncode == 0, again.stderr[-3000:]
    for run in (first, again):
        imported = set(_IMPORTED.findall(run.stderr))
        assert {"torch", "torch.optim", "safetensors"} <= imported, "the import profile was not written"
        assert "torch._dynamo" not in imported
