"""Tests for zoo.training.state: optimizer, scheduler and RNG state through real safetensors files."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from zoo.files.safefile import read_safetensors, write_safetensors
from zoo.training.state import capture_rng, flatten_state, restore_rng, unflatten_state

CUDA = torch.cuda.is_available()

# --------------------------------------------------------------------------- nested state


def test_flatten_keeps_types_exactly(tmp_path: Path) -> None:
    state = {
        "state": {0: {"step": torch.tensor(3.0), "buf": torch.ones(2, 2)}, 1: {}},
        "groups": [{"betas": (0.9, 0.999), "lr": 0.1, "eps": 1e-8, "params": [0, 1], "name": None}],
        "floats": [float("inf"), float("-inf"), float("nan"), -0.0, 2.0, 1e308],
        "flags": (True, False, 1, 0),
        "text": "$tensor",
        "nested": {"$dict": [[1, 2]], "$tensor": "x"},
        "size": torch.Size([2, 3]),
        "same": {"0": torch.zeros(1), 0: torch.ones(1)},
        True: "bool key",
        "big": 2**70,
    }
    tensors, skeleton = flatten_state("optim", state)
    assert "optim/state/0/buf" in tensors and "optim/state/0/step" in tensors
    assert all(key.startswith("optim/") for key in tensors)
    text = json.dumps(skeleton, allow_nan=False)

    path = tmp_path / "state.safetensors"
    write_safetensors(path, tensors, {"optim": text})
    loaded, meta = read_safetensors(path)
    back = unflatten_state("optim", loaded, json.loads(meta["optim"]))

    assert list(back) == list(state)
    assert list(back["state"]) == [0, 1] and back["state"][1] == {}
    assert torch.equal(back["state"][0]["buf"], torch.ones(2, 2))
    assert back["state"][0]["step"].shape == () and back["state"][0]["step"].item() == 3.0
    group = back["groups"][0]
    assert group["betas"] == (0.9, 0.999) and type(group["betas"]) is tuple
    assert group["params"] == [0, 1] and group["name"] is None
    inf, ninf, nan, nzero, two, huge = back["floats"]
    assert inf == math.inf and ninf == -math.inf and math.isnan(nan)
    assert str(nzero) == "-0.0" and type(two) is float and huge == 1e308
    assert back["flags"] == (True, False, 1, 0)
    assert [type(v) for v in back["flags"]] == [bool, bool, int, int]
    assert back["text"] == "$tensor"
    assert back["nested"] == {"$dict": [[1, 2]], "$tensor": "x"}
    assert back["size"] == (2, 3)
    assert torch.equal(back["same"]["0"], torch.zeros(1)) and torch.equal(back["same"][0], torch.ones(1))
    assert back[True] == "bool key" and back["big"] == 2**70


def test_flatten_of_a_bare_tensor_and_empty_prefix() -> None:
    tensors, skeleton = flatten_state("w", torch.ones(3))
    assert list(tensors) == ["w"]
    assert torch.equal(unflatten_state("w", tensors, skeleton), torch.ones(3))
    tensors, skeleton = flatten_state("", {"a": torch.ones(1)})
    assert list(tensors) == ["a"]


@pytest.mark.parametrize(
    ("state", "where", "what"),
    [
        ({"groups": [{"fn": lambda x: x}]}, "'sched/groups/0/fn'", "function"),
        ({"obj": object()}, "'sched/obj'", "object"),
        ({"b": b"bytes"}, "'sched/b'", "bytes"),
        ({"c": 1 + 2j}, "'sched/c'", "complex"),
        ({(1, 2): 3}, "'sched'", "tuple"),
    ],
)
def test_flatten_refuses_other_objects(state: Any, where: str, what: str) -> None:
    with pytest.raises(TypeError) as caught:
        flatten_state("sched", state)
    assert where in str(caught.value) and what in str(caught.value)


def test_unflatten_names_a_missing_tensor() -> None:
    tensors, skeleton = flatten_state("optim", {"state": {0: {"exp_avg": torch.ones(1)}}})
    with pytest.raises(ValueError, match="'optim/state/0/exp_avg'.*missing"):
        unflatten_state("optim", {}, skeleton)
    with pytest.raises(ValueError, match="malformed"):
        unflatten_state("optim", tensors, {"$what": 1})


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any, steps: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(16, 4, generator=gen)
        y = torch.randn(16, 1, generator=gen)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        sched.step()


def _make(kind: str) -> tuple[torch.nn.Module, torch.optim.Optimizer, Any]:
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt: torch.optim.Optimizer
    sched: Any
    if kind == "sgd-onecycle":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=20)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=1e-4)
    return model, opt, sched


@pytest.mark.parametrize("kind", ["sgd-onecycle", "adam-cosine"])
def test_optimizer_and_scheduler_resume_identically(tmp_path: Path, kind: str) -> None:
    model, opt, sched = _make(kind)
    _train(model, opt, sched, steps=5, seed=0)

    opt_tensors, opt_skel = flatten_state("optim", opt.state_dict())
    sched_tensors, sched_skel = flatten_state("sched", sched.state_dict())
    assert opt_tensors, "a stepped optimizer has tensor state"
    weights = {f"model/{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "last.safetensors"
    write_safetensors(
        path,
        {**weights, **opt_tensors, **sched_tensors},
        {"optim": json.dumps(opt_skel, allow_nan=False), "sched": json.dumps(sched_skel, allow_nan=False)},
    )

    tensors, meta = read_safetensors(path)
    model2, opt2, sched2 = _make(kind)
    _train(model2, opt2, sched2, steps=2, seed=99)  # make sure the fresh objects differ before loading
    model2.load_state_dict({k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")})
    opt2.load_state_dict(unflatten_state("optim", tensors, json.loads(meta["optim"])))
    sched2.load_state_dict(unflatten_state("sched", tensors, json.loads(meta["sched"])))
    assert sched2.state_dict() == sched.state_dict()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]

    _train(model, opt, sched, steps=6, seed=7)
    _train(model2, opt2, sched2, steps=6, seed=7)
    for (name, p1), (_, p2) in zip(model.named_parameters(), model2.named_parameters()):
        assert torch.equal(p1, p2), name
    assert sched.get_last_lr() == sched2.get_last_lr()
    if kind == "sgd-onecycle":
        assert opt.param_groups[0]["momentum"] == opt2.param_groups[0]["momentum"]


# --------------------------------------------------------------------------- random state


def _draws() -> tuple[list[float], float, float, list[float]]:
    cuda = torch.rand(3, device="cuda").tolist() if CUDA else []
    return torch.rand(5).tolist(), random.random(), random.gauss(0, 1), cuda


def test_rng_capture_and_restore_through_a_file(tmp_path: Path) -> None:
    torch.manual_seed(123)
    random.seed(5)
    random.gauss(0, 1)  # leaves a cached gauss_next that must survive too
    tensors, info = capture_rng()
    assert set(tensors) >= {"rng/torch"} and all(k.startswith("rng/") for k in tensors)
    assert info["python"]["gauss_next"] is not None
    path = tmp_path / "rng.safetensors"
    write_safetensors(path, tensors, {"rng": json.dumps(info, allow_nan=False)})
    expected = _draws()

    torch.manual_seed(999)
    random.seed(999)
    assert _draws() != expected
    loaded, meta = read_safetensors(path)
    restore_rng(loaded, json.loads(meta["rng"]))
    assert _draws() == expected


def test_restore_rng_refuses_incomplete_state() -> None:
    tensors, info = capture_rng()
    with pytest.raises(ValueError, match="rng/torch"):
        restore_rng({}, info)
    with pytest.raises(ValueError, match="Python random state"):
        restore_rng(tensors, {"python": {"version": 3, "state": ["x"], "gauss_next": None}})


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_optimizer_state_resumes_on_cuda(tmp_path: Path) -> None:
    def make() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(3)
        model = torch.nn.Linear(8, 2).cuda()
        return model, torch.optim.Adam(model.parameters(), lr=0.01)

    def steps(model: torch.nn.Module, opt: torch.optim.Optimizer, n: int) -> None:
        gen = torch.Generator(device="cuda").manual_seed(11)
        for _ in range(n):
            opt.zero_grad()
            model(torch.randn(4, 8, device="cuda", generator=gen)).square().mean().backward()
            opt.step()

    model, opt = make()
    steps(model, opt, 3)
    tensors, skeleton = flatten_state("optim", opt.state_dict())
    weights = {f"model/{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "gpu.safetensors"
    write_safetensors(path, {**tensors, **weights}, {"optim": json.dumps(skeleton)})

    loaded, meta = read_safetensors(path, device="cuda")
    model2, opt2 = make()
    model2.load_state_dict({k[len("model/") :]: v for k, v in loaded.items() if k.startswith("model/")})
    opt2.load_state_dict(unflatten_state("optim", loaded, json.loads(meta["optim"])))
    steps(model, opt, 2)
    steps(model2, opt2, 2)
    for p1, p2 in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p1, p2)


def test_train_progress_round_trips_through_checkpoint_metadata(tmp_path: Path) -> None:
    from zoo.contracts.metadata import decode, encode
    from zoo.errors import CheckpointError
    from zoo.training.state import TrainProgress

    best = {"metric": "val_accuracy", "value": 0.75, "epoch": 3, "loss": 0.5}
    progress = TrainProgress(epochs_done=3, global_step=42, step_in_epoch=2, partial_loss=1.5, partial_n=16, best=best)
    meta = decode(encode(progress.to_meta()), tmp_path / "last.safetensors")
    back = TrainProgress.from_meta(meta, tmp_path / "last.safetensors", steps_per_epoch=10)
    assert (back.epochs_done, back.global_step, back.step_in_epoch) == (3, 42, 2)
    assert (back.partial_loss, back.partial_n, back.best) == (1.5, 16, best)
    done = TrainProgress(epochs_done=4, global_step=50, partial_loss=9.0, partial_n=3).to_meta()
    assert (done["partial_loss"], done["partial_n"]) == (0.0, 0)  # only a save in mid-epoch keeps a partial loss
    with pytest.raises(CheckpointError, match="step 2 is past the end of the epoch"):
        TrainProgress.from_meta(meta, tmp_path / "last.safetensors", steps_per_epoch=2)
