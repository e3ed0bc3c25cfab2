"""``zoo.fit``: your own module through zoo's trainer, on every kind of data and task, and its checkpoints."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import torch
from PIL import Image
from serve_testkit import serving, zoo_env
from torch import nn

import zoo
from zoo.errors import UsageError
from zoo.training.callbacks import Callback, EpochEnd

NETS = """
from torch import nn


def make_net(features: int = 4, hidden: int = 16, classes: int = 3) -> nn.Module:
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))
"""


def blobs(n: int = 120, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()


def mlp(out: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, out))


@pytest.fixture
def nets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An importable package ``mynets`` with a builder, on sys.path and PYTHONPATH."""
    package = tmp_path / "pkgs" / "mynets"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(NETS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.chdir(tmp_path)
    return package.parent


class Two(nn.Module):
    """A sequence model: (N, T) indices in, (N, T, V) scores out."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(5, 8)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression", "sequence"])
def test_fit_trains_tensors_on_each_task_into_an_ordinary_run_folder(task: str, tmp_path: Path) -> None:
    x, labels = blobs()
    module: nn.Module
    data: tuple[object, object]
    if task == "multiclass":
        module, data = mlp(), (x, labels)
    elif task == "binary":
        module, data = nn.Sequential(mlp(1), nn.Sigmoid()), (x.numpy(), (labels > 0).numpy())
    elif task == "regression":
        module, data = mlp(1), (x, x[:, 0] * 2 + 1)
    else:
        seqs = torch.randint(0, 5, (40, 6), generator=torch.Generator().manual_seed(0))
        module, data = Two(), (seqs, (seqs + 1) % 5)
    run = zoo.fit(module, data, task=task, epochs=3, lr=0.05, out=tmp_path / "run", quiet=True)
    assert run.model is module and run.spec.task == task and len(run.history) == 3
    assert {"last.safetensors", "best.safetensors", "metrics.jsonl", "config.json", "outcome.json"} <= {
        p.name for p in (tmp_path / "run").iterdir()
    }
    metric = "val_mse" if task == "regression" else "val_accuracy"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3] and all(metric in r for r in records)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["hparams"]["lr"] == 0.05
    if task == "multiclass":  # zoo runs lists it as any other run
        env = zoo_env(ZOO_DATA_DIR=str(tmp_path / "data"))
        runs = subprocess.run(
            [sys.executable, "-m", "zoo", "runs", str(tmp_path), "--json"], capture_output=True, text=True, env=env
        )
        listed = json.loads(runs.stdout)
        assert [r["model"] for r in listed] == [run.spec.full_name], runs.stderr


def test_fit_takes_a_dataset_a_loader_a_folder_and_a_csv(tmp_path: Path) -> None:
    x, y = blobs()
    dataset = torch.utils.data.TensorDataset(x, y)
    run = zoo.fit(mlp(), dataset, dataset, task="multiclass", epochs=2, out=tmp_path / "ds", quiet=True)
    assert run.history[-1]["eval_split"] == "val" and run.history[-1]["step"] == 2 * 4  # batch 32 of 120
    loader = torch.utils.data.DataLoader(dataset, batch_size=60)
    run = zoo.fit(mlp(), loader, task="multiclass", epochs=2, out=tmp_path / "dl", quiet=True)
    assert run.history[-1]["step"] == 2 * 2  # the loader's batch size
    assert json.loads((tmp_path / "dl" / "config.json").read_text())["hparams"]["batch_size"] == 60

    folder = tmp_path / "pics"
    for label, shade in (("dark", 20), ("light", 230)):
        (folder / label).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (30, 30), shade + i).save(folder / label / f"{i}.png")
    cnn = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 2))
    run = zoo.fit(cnn, folder, task="multiclass", epochs=2, out=tmp_path / "folder", quiet=True, data_dir=tmp_path)
    assert len(run.history) == 2

    csv = tmp_path / "rows.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i % 7},{i % 3},{'yes' if i % 7 > 3 else 'no'}\n" for i in range(40)))
    run = zoo.fit(nn.Linear(2, 2), csv, task="multiclass", target="label", epochs=2, out=tmp_path / "csv", quiet=True)
    assert len(run.history) == 2
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("a,b,y\n" + "".join(f"{i % 5},{i % 3},{2 * (i % 5) - (i % 3)}\n" for i in range(40)))
    run = zoo.fit(nn.Linear(2, 1), numbers, task="regression", target="y", epochs=2, out=tmp_path / "reg", quiet=True)
    assert "val_mse" in run.history[-1]
    pairs = torch.utils.data.TensorDataset(x, (y > 0).float())  # binary targets from a Dataset, shaped (N,) -> (N, 1)
    run = zoo.fit(nn.Sequential(mlp(1), nn.Sigmoid()), pairs, task="binary", epochs=2, out=tmp_path / "bin", quiet=True)
    assert 0.0 <= run.history[-1]["val_accuracy"] <= 1.0
    with pytest.raises(UsageError, match="neither a folder of class folders nor a .csv file"):
        zoo.fit(nn.Linear(2, 2), tmp_path / "nothing.txt", task="multiclass")
    with pytest.raises(UsageError, match="must be \\(X, y\\) tensors or arrays"):
        zoo.fit(nn.Linear(2, 2), [1, 2, 3], task="multiclass")


def test_a_module_whose_outputs_do_not_fit_the_task_is_one_error_before_any_step(tmp_path: Path) -> None:
    x, y = blobs()
    with pytest.raises(UsageError) as wrong:
        zoo.fit(mlp(out=2), (x, y), task="multiclass", out=tmp_path / "a")
    assert "returned (2, 2), the task needs (2, 3)" in wrong.value.message
    with pytest.raises(UsageError, match=r"returned \(2, 3\), the task needs \(2, 1\)"):
        zoo.fit(mlp(), (x, y.float()), task="binary", out=tmp_path / "b")
    with pytest.raises(UsageError, match=r"batch of shape \(2, 4\) and raised: mat1 and mat2"):
        zoo.fit(nn.Linear(5, 3), (x, y), task="multiclass", out=tmp_path / "c")
    with pytest.raises(UsageError, match="(?s)has no keyword argument 'epoch'.*'epochs'"):
        zoo.fit(mlp(), (x, y), task="multiclass", epoch=2)
    with pytest.raises(UsageError, match="unknown task 'classify'"):
        zoo.fit(mlp(), (x, y), task="classify")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before a folder was made


def test_fit_keywords_are_the_run_options_and_hyperparameters_of_zoo_train() -> None:
    from dataclasses import fields

    from zoo.contracts.spec import BASE_HPARAMS
    from zoo.training.runconfig import RunOptions

    own = {f.name for f in fields(RunOptions)} - {"more"}  # more: declared settings without a field
    assert own | set(BASE_HPARAMS) <= set(zoo.fit_keywords())


def test_a_resumed_fit_run_ends_bit_for_bit_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    x, y = blobs()
    whole, first = mlp(seed=3), mlp(seed=3)
    zoo.fit(whole, (x, y), task="multiclass", epochs=4, out=tmp_path / "whole", quiet=True)
    zoo.fit(first, (x, y), task="multiclass", epochs=2, out=tmp_path / "part", quiet=True)
    resumed = zoo.fit(mlp(seed=9), (x, y), task="multiclass", epochs=4, resume=tmp_path / "part", quiet=True)
    assert len(resumed.history) == 4
    for (name, a), b in zip(whole.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_early_stopping_and_a_callback_see_every_epoch(tmp_path: Path) -> None:
    x, y = blobs()
    seen: list[int] = []

    class Stop(Callback):
        def on_epoch_end(self, end: EpochEnd) -> None:
            seen.append(end.epoch)
            if end.epoch == 3:
                end.stop("enough", "stopped")

    run = zoo.fit(mlp(), (x, y), task="multiclass", epochs=9, callbacks=[Stop()], out=tmp_path / "cb", quiet=True)
    assert seen == [1, 2, 3] and run.status == "stopped" and run.stop_reason == "enough"
    run = zoo.fit(
        mlp(), (x, y), (x, y), task="multiclass", epochs=60, lr=1e-9, early_stop=1, out=tmp_path / "es", quiet=True
    )
    assert run.status == "stopped" and len(run.history) < 60


def test_a_checkpoint_with_a_builder_predicts_exports_and_serves_in_another_process(nets: Path) -> None:
    from mynets import make_net

    x, y = blobs()
    with pytest.raises(UsageError, match="0.weight is \\[8, 4\\], the model's is \\[16, 4\\]"):
        zoo.fit(make_net(hidden=8), (x, y), task="multiclass", builder="mynets:make_net")
    with pytest.raises(UsageError, match="'subprocess', which never builds a model"):
        zoo.fit(make_net(), (x, y), task="multiclass", builder="subprocess:run")
    run = zoo.fit(
        make_net(hidden=8),
        (x, y),
        task="multiclass",
        builder="mynets:make_net",
        config={"hidden": 8},
        classes=["low", "mid", "high"],
        epochs=3,
        lr=0.1,
        out="run",
        quiet=True,
    )
    env = zoo_env(PYTHONPATH=str(nets), ZOO_DATA_DIR=str(Path("data").resolve()))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env, timeout=300
        )

    predicted = cli("predict", "run", "0.5,1,0,0", "--json")
    assert predicted.returncode == 0, predicted.stderr
    local = zoo.load("run").predict("0.5,1,0,0")[0]
    assert json.loads(predicted.stdout)[0]["output"] == local["output"] in ("low", "mid", "high")
    exported = cli("export", "run", "--format", "onnx", "-o", "net.onnx")
    assert exported.returncode == 0 and Path("net.onnx").stat().st_size > 0, exported.stderr
    with serving("run/best.safetensors", cwd=Path.cwd(), env={"PYTHONPATH": str(nets)}) as base:
        models = httpx.get(base + "/v1/models").json()["models"]
        name = models[0]["name"]
        answer = httpx.post(f"{base}/v1/models/{name}/predict", json={"inputs": ["0.5,1,0,0"]}).json()
    assert answer[0]["output"] == local["output"]
    assert run.spec.full_name == "fit.make_net"


def test_a_checkpoint_without_a_builder_says_how_to_use_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    x, y = blobs()
    net = mlp()
    zoo.fit(net, (x, y), task="multiclass", epochs=1, out="run", quiet=True)
    env = zoo_env(ZOO_DATA_DIR=str(tmp_path / "data"))
    refused = subprocess.run(
        [sys.executable, "-m", "zoo", "predict", "run", "1,2,3,4"], capture_output=True, text=True, env=env, timeout=300
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "trained with zoo.fit without a builder" in refused.stderr
    assert "zoo.load(path, module=net)" in refused.stderr and "builder=" in refused.stderr
    loaded = zoo.load("run", module=copy.deepcopy(net))
    assert loaded.predict("1,2,3,4")[0]["output"] == zoo.load("run", module=mlp(seed=5)).predict("1,2,3,4")[0]["output"]


def test_a_checkpoint_whose_builder_is_not_a_model_builder_is_refused(nets: Path) -> None:
    from mynets import make_net

    from zoo.files.checkpoint import read_checkpoint, save_checkpoint

    path = zoo.save(make_net(), "net.safetensors", builder="mynets:make_net", task="multiclass")
    tensors, meta = read_checkpoint(path)
    model = {k.removeprefix("model/"): v for k, v in tensors.items()}
    for builder, problem in (
        ("subprocess:run", "'subprocess', which never builds a model"),
        ("mynets:nn.init.zeros_", "is not a function defined in 'mynets' nor an nn.Module class"),
    ):
        save_checkpoint("bad.safetensors", model, {**meta, "builder": builder, "model": "fit.other"})
        with pytest.raises(UsageError, match=problem):
            zoo.load("bad.safetensors")


def test_save_takes_a_builder_and_needs_a_name_or_a_builder(nets: Path) -> None:
    from mynets import make_net

    net = make_net(hidden=6)
    path = zoo.save(net, "own.safetensors", builder="mynets:make_net", config={"hidden": 6}, task="multiclass")
    again = zoo.load(path)
    assert again.metadata["builder"] == "mynets:make_net" and again.metadata["config"]["hidden"] == 6
    with pytest.raises(UsageError, match="needs task= too"):
        zoo.save(net, "b.safetensors", builder="mynets:make_net", config={"hidden": 6})
    with pytest.raises(UsageError, match="needs name= .* or builder= .*not neither"):
        zoo.save(net, "c.safetensors")


def test_the_readme_shows_fit_beside_the_loop_it_replaces_and_both_run(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own model", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("\n", 1)[1] for b in section.split("```python")[1:]]
    blocks = [b.split("```", 1)[0] for b in blocks]
    assert len(blocks) == 2 and "zoo.fit(" in blocks[1] and "loss.backward()" in blocks[0]
    script = tmp_path / "own.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    env = {**zoo_env(ZOO_DATA_DIR=str(tmp_path / "data")), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "runs" / "mine" / "best.safetensors").exists()
    assert textwrap.dedent(done.stdout).strip()
