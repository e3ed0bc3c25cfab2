"""What people expect of a command line and a library: -h, completion, pipes, quiet, JSON, configs."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from zoo_testkit import Runner

COMMANDS = ["list", "plugins", "devices", "info", "weights", "train", "eval", "predict", "plot", "runs", "check"]


def _env(toy_site: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(PYTHONPATH=str(toy_site), ZOO_LOAD_PLUGINS="toy", ZOO_DATA_DIR=str(tmp_path / "data"))
    return env


def _zoo_script() -> str:
    script = Path(sys.executable).with_name("zoo")
    if not script.exists():
        pytest.skip("the zoo console script is not installed beside this python")
    return str(script)


def test_short_help_everywhere_with_readable_names(zoo_cli: Runner, toy_site: Path) -> None:
    top = zoo_cli("-h", sites=(toy_site,), check=True)
    assert "Usage:" in top.stdout and "Examples:" in top.stdout
    for command in COMMANDS:
        shown = zoo_cli(command, "-h", sites=(toy_site,), check=True).stdout
        assert "Usage:" in shown, command
        assert "{" not in shown.split("\n", 1)[0] and "<str>" not in shown and "<int" not in shown, shown
    train = zoo_cli("train", "-h", sites=(toy_site,), check=True).stdout
    assert "[NAME]" in train and "--epochs N" in train and "Examples:" in train
    predict = zoo_cli("predict", "-h", sites=(toy_site,), check=True).stdout
    assert "INPUT..." in predict.splitlines()[0]


def _complete(env: dict[str, str], words: str, cword: int, tmp_path: Path) -> list[str]:
    env = {**env, "_ZOO_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    done = subprocess.run([_zoo_script()], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_of_models_and_recipes(toy_site: Path, tmp_path: Path) -> None:
    env = _env(toy_site, tmp_path)
    assert _complete(env, "zoo train to", 2, tmp_path) == ["toy.line", "toy.mlp"]
    assert _complete(env, "zoo train toy.line --recipe ", 4, tmp_path) == ["default", "fast"]
    assert _complete(env, "zoo info toy.m", 2, tmp_path) == ["toy.mlp"]
    zsh = subprocess.run(
        [_zoo_script()],
        env={**env, "_ZOO_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "zoo train toy."},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert "toy.line" in zsh.stdout and "toy.mlp" in zsh.stdout


def _epoch_lines(text: str) -> list[str]:
    return [line.split()[1] for line in text.splitlines() if line.startswith("epoch ")]


def test_quiet_prints_one_line_and_long_runs_stay_short(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    quiet = zoo_cli("train", "toy.line", "-q", "--out", str(tmp_path / "q"), sites=(toy_site,), check=True)
    assert len(quiet.stdout.splitlines()) == 1 and quiet.stdout.startswith("best val_mse ")
    long = ("train", "toy.line", "--epochs", "100", "--batch-size", "0")
    shown = _epoch_lines(zoo_cli(*long, "--out", str(tmp_path / "l"), sites=(toy_site,), check=True).stdout)
    assert 10 <= len(shown) <= 31 and shown[0] == "1/100" and shown[-1] == "100/100"
    every = zoo_cli(*long, "--log-every", "50", "--out", str(tmp_path / "e"), sites=(toy_site,), check=True)
    assert _epoch_lines(every.stdout) == ["1/100", "50/100", "100/100"]


def test_json_summary_is_all_of_stdout(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    done = zoo_cli("train", "toy.line", "--json", "--out", str(tmp_path / "j"), sites=(toy_site,), check=True)
    summary = json.loads(done.stdout)
    assert summary["run_dir"] == str(tmp_path / "j") and summary["epochs"] == 3
    assert summary["best"]["metric"] == "val_mse" and summary["last"]["epoch"] == 3 and summary["seconds"] > 0
    assert _epoch_lines(done.stderr) == ["1/3", "2/3", "3/3"]
    # Regression: the validation loss is the MSE, printed once.
    assert "val_loss" not in done.stderr and "val_mse" in done.stderr
    # TensorBoard only where it is installed.
    has_tb = (tmp_path / "j" / "tb").is_dir()
    assert has_tb == (__import__("importlib").util.find_spec("tensorboard") is not None)


def test_head_on_the_output_keeps_the_run(toy_site: Path, tmp_path: Path) -> None:
    run = tmp_path / "piped"
    command = (
        f"{sys.executable} -m zoo train toy.line --epochs 300 --batch-size 0 --log-every 1 --out {run} | head -1; "
        "echo status=${PIPESTATUS[0]}"
    )
    done = subprocess.run(
        ["bash", "-c", command], env=_env(toy_site, tmp_path), capture_output=True, text=True, timeout=300
    )
    assert done.stdout.splitlines()[0].startswith("training toy.line")
    assert "status=0" in done.stdout and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 300 and (run / "last.safetensors").is_file()


def _values(run: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in rows]


def test_a_run_replays_from_its_config(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    zoo_cli("train", "toy.mlp", "--seed", "3", "--lr", "0.05", "--deterministic", "--out", str(first), "-q",
            sites=(toy_site,), check=True)  # fmt: skip
    again = tmp_path / "again"
    zoo_cli("train", "--config", str(first / "config.json"), "--deterministic", "--out", str(again), "-q",
            sites=(toy_site,), check=True)  # fmt: skip
    assert _values(again) == _values(first)
    printed = zoo_cli("train", "--config", str(first / "config.json"), "--epochs", "7", "--print-config",
                      sites=(toy_site,), check=True)  # fmt: skip
    config = json.loads(printed.stdout)
    assert config["model"] == "toy.mlp" and config["seed"] == 3 and config["hparams"]["epochs"] == 7
    assert config["hparams"]["lr"] == 0.05 and config["deterministic"] is True
    assert not list(tmp_path.glob("runs/*"))  # --print-config trains nothing
    wrong = zoo_cli("train", "toy.line", "--config", str(first / "config.json"), sites=(toy_site,))
    assert wrong.returncode == 2 and "describes a run of 'toy.mlp'" in wrong.stderr


def test_missing_first_party_plugin_is_named(zoo_cli: Runner, toy_site: Path) -> None:
    done = zoo_cli("train", "vision.cnn", sites=(toy_site,))
    assert done.returncode == 2 and "pip install zoo-vision" in done.stderr


def test_library_quiet_prints_nothing_and_errors_speak_python(toy_site: Path, tmp_path: Path) -> None:
    code = (
        "import zoo\n"
        f"zoo.train('toy.line', quiet=True, out={str(tmp_path / 'lib')!r})\n"
        "try:\n    zoo.train('toy.line', epochs=0, quiet=True)\n"
        "except zoo.ZooError as exc:\n    import sys; sys.stderr.write(str(exc))\n"
        "try:\n    zoo.train('toy.line', epoch=3, quiet=True)\n"
        "except zoo.ZooError as exc:\n    import sys; sys.stderr.write('|' + str(exc))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env(toy_site, tmp_path), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "epochs=" in done.stderr and "--" not in done.stderr, done.stderr
    assert "unknown keyword argument epoch=" in done.stderr


def test_runs_table_never_cuts_the_path(toy_site: Path, tmp_path: Path) -> None:
    deep = tmp_path / "runs" / "a-rather-long-folder-name" / "and-another-level-below-it"
    subprocess.run(
        [sys.executable, "-m", "zoo", "train", "toy.line", "--epochs", "1", "-q", "--out", str(deep)],
        env=_env(toy_site, tmp_path),
        check=True,
        capture_output=True,
    )
    main, secondary = pty.openpty()
    env = {**_env(toy_site, tmp_path), "COLUMNS": "60"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", "runs", str(tmp_path / "runs")],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(main)
    assert str(deep) in b"".join(chunks).decode(errors="replace")


def test_epoch_lines_and_warnings_read_right() -> None:
    from zoo.training.progress import epoch_line, epoch_step, run_warnings

    on_train = {"epoch": 2, "train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.75, "seconds": 0.1}
    line = epoch_line({**on_train, "eval_split": "train"}, 10)
    assert "val_" not in line and "loss 0.4" in line and "accuracy 0.75" in line
    assert "val_accuracy 0.75" in epoch_line({**on_train, "eval_split": "val"}, 10)
    assert [epoch_step(n) for n in (3, 30, 100, 1000)] == [1, 1, 5, 50]
    one_class = {"val_accuracy": 0.651, "val_predicted_classes": 1, "eval_split": "val"}
    assert "same class" in run_warnings(one_class, "binary")[0]
    assert run_warnings({**one_class, "val_predicted_classes": 2}, "binary") == []


def test_adapter_counts_predicted_classes() -> None:
    torch = pytest.importorskip("torch")
    from zoo.contracts.adapter import ModelAdapter
    from zoo.contracts.spec import ModelSpec, Recipe

    def spec(task: str) -> ModelSpec:
        return ModelSpec("m", "", task, "x:y", "d", (Recipe("default", ""),))

    binary = ModelAdapter(spec("binary"))
    targets = torch.tensor([[0.0], [1.0], [1.0]])
    same = binary.batch_stats(torch.tensor([[0.9], [0.8], [0.7]]), targets, None)
    assert binary.finalize(same)["predicted_classes"] == 1
    mixed = binary.batch_stats(torch.tensor([[0.1], [0.8], [0.7]]), targets, None)
    assert binary.finalize(mixed)["predicted_classes"] == 2
    multi = ModelAdapter(spec("multiclass"))
    logits = torch.tensor([[5.0, 0.0, 0.0], [4.0, 1.0, 0.0]])
    stats = multi.batch_stats(logits, torch.tensor([0, 1]), 3)
    assert multi.finalize(stats)["predicted_classes"] == 1


def test_reprs_are_readable() -> None:
    from zoo.backend import CpuBackend
    from zoo.contracts.spec import DatasetSpec, ModelSpec, Recipe, Weights

    recipe = Recipe("seed", "the notes", {"epochs": 100, "lr": 0.01})
    spec = ModelSpec("cnn", "", "multiclass", "x:y", "vision.mnist", (recipe,), namespace="vision")
    assert repr(spec).startswith("ModelSpec('vision.cnn', task='multiclass'") and "['seed']" in repr(spec)
    assert repr(recipe) == "Recipe('seed', epochs=100, lr=0.01)"
    assert repr(DatasetSpec("mnist", "", "x:y", {"data_dir": ""}, namespace="vision")).startswith(
        "DatasetSpec('vision.mnist'"
    )
    weights = Weights("default", "p:w", "0" * 64, 2048, "mnist", "test", "accuracy", 0.99, "seed", "zoo train")
    assert repr(weights) == "Weights('default', accuracy=0.99 on mnist test, recipe='seed', 2 KiB)"
    assert repr(CpuBackend()) == "CpuBackend('cpu', distributed='gloo')"


def _write_run(run: Path, rows: list[dict[str, Any]]) -> None:
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "config.json").write_text(json.dumps({"model": "toy.line", "recipe": "default"}))


def test_plots_of_one_epoch_a_grid_and_a_long_run(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from zoo.use.plots import best_epoch, plot_run

    one = {"epoch": 1, "train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.6, "eval_split": "val"}
    _write_run(tmp_path / "one", [one])
    assert plot_run(tmp_path / "one").stat().st_size > 0
    _write_run(tmp_path / "grid", [{"epoch": 1, "train_loss": 0.0, "val_loss": 0.0, "val_mse": 0.0}])
    (tmp_path / "grid" / "grid.csv").write_text("w,mse\n0,4\n1,1\n2,0\n3,1\n")
    assert plot_run(tmp_path / "grid").is_file()
    rows = [{"epoch": e, "train_loss": 10.0**-e, "val_loss": 10.0**-e, "val_mse": 10.0**-e} for e in range(1, 9)]
    _write_run(tmp_path / "long", rows)
    assert plot_run(tmp_path / "long").is_file()
    ties = [{**one, "epoch": 1, "val_accuracy": 1.0, "val_loss": 0.3}, {**one, "epoch": 2, "val_accuracy": 1.0}]
    assert best_epoch([*ties, {**one, "epoch": 3, "val_accuracy": 1.0, "val_loss": 0.1}]) == (
        "val_accuracy",
        {**one, "epoch": 3, "val_accuracy": 1.0, "val_loss": 0.1},
    )


def test_readme_stride_row_builds() -> None:
    pytest.importorskip("zoo_vision")
    torch = pytest.importorskip("torch")
    import zoo

    model = zoo.create("vision.cnn", kernel_size=3, padding=1, stride=2)
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    with pytest.raises(zoo.ZooError, match="shrinks"):
        zoo.create("vision.cnn", stride=2)
