"""The plugin through the ``zoo`` command (and zoo's library API): train, eval, predict, and errors.

Every ``zoo`` subprocess costs a torch import, so the CLI runs are few and shared;
checks that need no separate process use ``zoo.train`` and ``zoo.load`` in-process.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch

import zoo
from vision_testkit import Cli, draw_shape, write_mnist
from zoo.plugin import DataError, UsageError
from zoo_vision.models import SmallCNN

if TYPE_CHECKING:
    from zoo.use.loaded import LoadedModel


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def load(path: Path) -> LoadedModel:
    return zoo.load(str(path))


def train(data_dir: Path, out: Path, name: str = "vision.fc", **overrides: Any) -> Any:
    """``zoo.train`` in this process, small and on the CPU."""
    settings: dict[str, Any] = {"seed": 0, "device": "cpu", "quiet": True, "download": False, "epochs": 1}
    settings.update(overrides)
    return zoo.train(name, data_dir=data_dir, out=out, **settings)


def assert_clean_error(proc: object, *needles: str) -> str:
    """Exit code 2, one 'error:' message holding every needle, and no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)  # type: ignore[attr-defined]
    text = proc.stderr  # type: ignore[attr-defined]
    assert "error:" in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, (needle, text)
    return text


def test_list_shows_both_models(cli: Cli, tmp_path: Path) -> None:
    proc = cli("list", "--json", cwd=tmp_path)
    names = {m["name"]: m for m in json.loads(proc.stdout)}
    assert set(names) == {"vision.cnn", "vision.fc"}
    for model in names.values():
        assert model["task"] == "multiclass" and model["dataset"] == "vision.mnist"
        assert model["recipes"] == ["default", "cpu", "seed"] and model["plugin"] == "zoo-vision"


def test_train_cnn_writes_checkpoints_that_learned(trained_cnn: Path, vision_only: None) -> None:
    rows = metrics(trained_cnn)
    assert len(rows) == 8
    assert rows[-1]["val_accuracy"] >= 0.9
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    loaded = load(trained_cnn / "last.safetensors")
    assert loaded.metadata["model"] == "vision.cnn" and loaded.metadata["plugin"] == "zoo-vision"
    model = loaded.model
    assert isinstance(model, SmallCNN)
    assert model.fc.weight.shape == (10, 320)
    assert model.conv1.weight.shape == (10, 1, 5, 5)
    assert loaded.metadata["data_meta"]["mean"] == 0.1307


def test_eval_reports_the_test_split(cli: Cli, trained_cnn: Path, mnist_dir: Path) -> None:
    checkpoint = str(trained_cnn / "last.safetensors")
    proc = cli("eval", checkpoint, "--json", "--device", "cpu", cwd=trained_cnn, data_dir=mnist_dir)
    result = json.loads(proc.stdout)
    assert result["samples"] == 32
    assert abs(result["accuracy"] - metrics(trained_cnn)[-1]["val_accuracy"]) < 1e-9


def test_predict_reads_pictures_of_any_polarity_and_colour(
    cli: Cli, trained_cnn: Path, tmp_path: Path
) -> None:
    ring = tmp_path / "ring-dark-on-light.png"
    draw_shape(0, size=300, stroke=3, ink=0, paper=255).save(ring)
    bar = tmp_path / "bar-light-on-dark.png"
    draw_shape(1, size=120, stroke=3, ink=255, paper=0).resize((90, 160)).save(bar)
    cross = tmp_path / "x-colour.png"
    draw_shape(3, size=200, stroke=3, ink=40, paper=230, mode="RGB").save(cross)
    checkpoint = str(trained_cnn / "best.safetensors")
    proc = cli("predict", checkpoint, str(ring), str(bar), str(cross), "--top", "3", cwd=tmp_path)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3, proc.stdout
    for line, path, digit in zip(lines, (ring, bar, cross), (0, 1, 3), strict=True):
        # e.g. "ring.png -> 0  p=0.9991  top: 0 0.9991, 3 0.0005, 1 0.0002"
        head, _, top = line.partition("  top: ")
        assert head.startswith(f"{path} -> {digit}  p="), line
        ranked = [item.split() for item in top.split(", ")]
        assert len(ranked) == 3 and ranked[0][0] == str(digit)
        probs = [float(p) for _, p in ranked]
        assert probs == sorted(probs, reverse=True) and probs[0] > 0.5
        assert float(head.split("p=")[1]) == probs[0]


def test_predict_names_a_missing_or_unreadable_file(cli: Cli, trained_cnn: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "digit.png"
    bogus.write_text("this is text")
    proc = cli("predict", str(trained_cnn / "best.safetensors"), str(bogus), cwd=tmp_path, check=False)
    assert_clean_error(proc, str(bogus), "not an image")


def test_both_loaders_train_the_same_model(
    cli: Cli, mnist_dir: Path, tmp_path: Path, vision_only: None
) -> None:
    """The torchvision DataLoader path through the CLI and the fast path in-process, same seed: same model."""
    args = "train vision.fc --recipe seed --epochs 1 --device cpu --seed 5 --quiet"
    args += " --loader torchvision --out slow"
    cli(*args.split(), cwd=tmp_path, data_dir=mnist_dir)
    run = train(mnist_dir, tmp_path / "fast", recipe="seed", seed=5, loader="fast")
    slow, fast = metrics(tmp_path / "slow")[-1], metrics(tmp_path / "fast")[-1]
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert abs(fast[key] - slow[key]) < 1e-5, (key, fast[key], slow[key])
    a = run.model.state_dict()
    b = load(tmp_path / "slow" / "last.safetensors").model.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name].cpu(), b[name], atol=1e-5), name


def test_offline_without_files_says_where_to_put_them(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a local port nobody listens on: fails at once, never touches the internet
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    empty = tmp_path / "data"
    args = f"train vision.cnn --epochs 1 --device cpu --mirror http://127.0.0.1:{port}"
    proc = cli(*args.split(), cwd=tmp_path, data_dir=empty, check=False)
    raw = str(empty / "MNIST" / "raw")
    files = "train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
    assert_clean_error(proc, raw, *files.split(), "plain or .gz", "download failed")


def test_corrupt_file_is_named(tmp_path: Path, vision_only: None) -> None:
    raw = write_mnist(tmp_path / "data", n_train=8, n_test=4)
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-2])
    with pytest.raises(DataError, match="truncated") as info:
        train(tmp_path / "data", tmp_path / "run")
    assert str(labels) in str(info.value)


def test_cnn_arguments_that_leave_nothing_are_a_usage_error(
    mnist_dir: Path, tmp_path: Path, vision_only: None
) -> None:
    with pytest.raises(UsageError, match="kernel_size=13.*nothing at conv2"):
        train(mnist_dir, tmp_path / "run", name="vision.cnn", kernel_size=13, stride=2)


def test_cnn_padding_and_stride_train(mnist_dir: Path, tmp_path: Path, vision_only: None) -> None:
    run = train(mnist_dir, tmp_path / "run", name="vision.cnn", kernel_size=3, padding=1, stride=2, pool=1)
    reloaded = load(tmp_path / "run" / "last.safetensors").model
    assert isinstance(run.model, SmallCNN) and isinstance(reloaded, SmallCNN)
    assert run.model.fc.in_features == reloaded.fc.in_features == 20 * 7 * 7


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that answers 404 to everything and records each request."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (the name http.server calls)
            requests.append(self.path)
            self.send_error(404)

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("how", ["ZOO_OFFLINE=1", "--no-download"])
def test_offline_train_never_asks_the_mirror(
    cli: Cli, tmp_path: Path, counting_server: tuple[str, list[str]], how: str
) -> None:
    url, requests = counting_server
    args = ["train", "vision.fc", "--epochs", "1", "--device", "cpu", "--mirror", url, "--out", "run"]
    env = {"ZOO_OFFLINE": "1"} if how == "ZOO_OFFLINE=1" else {}
    if how == "--no-download":
        args.append("--no-download")
    empty = tmp_path / "data"
    proc = cli(*args, cwd=tmp_path, data_dir=empty, check=False, env=env)
    assert_clean_error(
        proc, str(empty / "MNIST" / "raw"), "train-images-idx3-ubyte", "downloading is turned off"
    )
    assert requests == []
    assert not (tmp_path / "run" / "last.safetensors").exists()


def test_offline_eval_never_asks_the_mirror(
    cli: Cli, mnist_dir: Path, tmp_path: Path, counting_server: tuple[str, list[str]]
) -> None:
    url, requests = counting_server
    data = tmp_path / "data"
    shutil.copytree(mnist_dir, data)
    # Trained on local files, so the mirror is recorded in the checkpoint but never needed...
    args = [
        "train",
        "vision.fc",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--mirror",
        url,
        "--out",
        "run",
        "--quiet",
    ]
    cli(*args, cwd=tmp_path, data_dir=data)
    assert requests == []
    # ...until the data folder is gone: offline, eval must say so instead of downloading.
    shutil.rmtree(data)
    checkpoint = str(tmp_path / "run" / "last.safetensors")
    env = {"ZOO_OFFLINE": "1"}
    proc = cli("eval", checkpoint, "--device", "cpu", cwd=tmp_path, data_dir=data, check=False, env=env)
    assert requests == []
    assert_clean_error(proc, "downloading is turned off")
