"""``zoo tune``: real studies of the toy models through the installed CLI, each trial a real run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from zoo_testkit import SPACED_PLUGIN, Runner, wait_for, write_plugin

pytest.importorskip("optuna")

SPACE = ("--space", "lr=0.005..0.5:log", "--space", "batch_size=4,8,16")


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "trials.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _trials(folder: Path, storage: str | None = None, study: str = "toy.mlp") -> list[Any]:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    where: Any = storage or JournalStorage(JournalFileBackend(str(folder / "study.journal")))
    return optuna.load_study(study_name=study, storage=where).get_trials(deepcopy=False)


def _done(trials: list[Any]) -> int:
    return sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials if not t.user_attrs.get("zoo_surplus"))


def test_study_of_six_trials_each_a_run(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    result = zoo_cli("tune", "toy.mlp", "--trials", "6", *SPACE, "--epochs", "2", "--out", str(out), sites=(toy_site,))
    assert result.returncode == 0, result.stderr
    rows = _rows(out)
    assert [r["number"] for r in rows] == [str(i) for i in range(6)]
    assert {r["state"] for r in rows} <= {"complete", "pruned"}
    for row in rows:
        run = Path(row["run"]) if Path(row["run"]).is_absolute() else tmp_path / row["run"]
        assert run == out / f"trial-{int(row['number']):04d}"
        config = json.loads((run / "config.json").read_text())
        assert config["hparams"]["lr"] == pytest.approx(float(row["lr"]))
        assert config["hparams"]["batch_size"] == int(row["batch_size"])
        assert config["hparams"]["epochs"] == 2
        assert (run / "last.safetensors").is_file()
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        best = max(r["val_accuracy"] for r in records)
        assert float(row["value"]) == pytest.approx(best) or row["state"] == "pruned"
    complete = [r for r in rows if r["state"] == "complete"]
    winner = max(complete, key=lambda r: float(r["value"]))
    assert os.readlink(out / "best") == f"trial-{int(winner['number']):04d}"
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["trial", "state", "value", "lr", "batch_size", "seconds"]
    assert lines[-1].startswith("best val_accuracy ") and f"in trial {winner['number']} " in lines[-1]
    assert result.stderr.count("\ntrial ") + result.stderr.startswith("trial ") == 6


def test_the_recipe_declares_the_space(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    write_plugin(toy_site, "spaced-plugin", "spacedplug", {"__init__.py": SPACED_PLUGIN}, {"spaced": "spacedplug"})
    out = tmp_path / "declared"
    env = {"ZOO_LOAD_PLUGINS": "toy,spaced"}
    result = zoo_cli("tune", "spaced.mlp", "--trials", "6", "--out", str(out), env=env, sites=(toy_site,))
    assert result.returncode == 0, result.stderr
    rows = _rows(out)
    assert len(rows) == 6 and {r["state"] for r in rows} <= {"complete", "pruned"}
    for row in rows:
        assert 0.01 <= float(row["lr"]) <= 0.5 and row["hidden"] in {"4", "8", "16"}
        config = json.loads((out / f"trial-{int(row['number']):04d}" / "config.json").read_text())
        assert config["config"]["hidden"] == int(row["hidden"])
    info = zoo_cli("info", "spaced.mlp", env=env, sites=(toy_site,))
    assert "search space (zoo tune): lr=0.01..0.5:log, hidden=4,8,16" in info.stdout, info.stdout


def test_library_call_with_a_mapping_and_a_timeout(toy_site: Path, tmp_path: Path) -> None:
    code = (
        "import json, zoo.tuning.study as s; "
        "r = s.tune('toy.mlp', space={'lr': '0.01..0.3', 'optimizer': ['sgd', 'adam']}, trials=50, timeout=3, "
        "out='lib', method='slow', epochs=2, quiet=True); r.pop('table'); print(json.dumps(r))"
    )
    env = _env(toy_site, tmp_path, TOY_EPOCH_SECONDS="0.3")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    done = summary["trials"]["complete"] + summary["trials"]["pruned"]
    assert 1 <= done < 50  # the timeout ended the study early, after the running trial
    assert summary["best"]["params"]["optimizer"] in ("sgd", "adam")
    assert Path(tmp_path / summary["best"]["run"] / "best.safetensors").is_file()


def test_the_study_draws_its_history_and_importance_plots(toy_site: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    env = _env(toy_site, tmp_path)
    env.pop("ZOO_NO_PLOTS")
    command = [sys.executable, "-m", "zoo", "tune", "toy.line", "--trials", "4", "--space", "lr=0.01..0.3"]
    command += ["--space", "batch_size=4,8", "--pruner", "none", "--out", "plotted", "-q"]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for name in ("history.png", "importance.png"):
        assert (tmp_path / "plotted" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_json_summary_and_regression_minimizes(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "line"
    args = ("tune", "toy.line", "--trials", "3", "--space", "lr=0.01..0.3", "--pruner", "none", "--json")
    result = zoo_cli(*args, "--out", str(out), sites=(toy_site,))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) == {"study", "storage", "best", "trials", "out"}
    assert summary["trials"] == {"complete": 3, "pruned": 0, "failed": 0}
    values = [float(r["value"]) for r in _rows(out)]
    assert summary["best"]["value"] == pytest.approx(min(values))  # val_mse: lower is better
    assert set(summary["best"]["params"]) == {"lr"}
    assert summary["storage"] == str(out / "study.journal")


def test_two_workers_share_one_journal(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "shared"
    args = ("tune", "toy.mlp", "--trials", "6", *SPACE, "--workers", "2", "--epochs", "3", "--method", "slow")
    seeded = (*args, "--sampler-seed", "0")
    result = zoo_cli(*seeded, "-q", "--out", str(out), env={"TOY_EPOCH_SECONDS": "0.5"}, sites=(toy_site,))
    assert result.returncode == 0, result.stderr
    trials = _trials(out)
    assert _done(trials) == 6
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert len({t.user_attrs["zoo_worker"]["pid"] for t in trials}) == 2
    # One seed, two workers: each suggests its own settings, so no trial is a copy of another.
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)


def _env(toy_site: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(ZOO_LOAD_PLUGINS="toy", ZOO_NO_PLOTS="1", ZOO_DATA_DIR=str(tmp_path / "data"))
    env["PYTHONPATH"] = str(toy_site)
    env.update(extra)
    return env


def test_two_commands_on_one_sqlite_file_stop_at_n_in_total(toy_site: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    command = [sys.executable, "-m", "zoo", "tune", "toy.mlp", "--trials", "5", *SPACE, "--epochs", "3"]
    command += ["--storage", url, "--study", "shared", "--out", str(tmp_path / "trials"), "-q"]
    env = _env(toy_site, tmp_path)
    procs = [subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    trials = _trials(tmp_path, storage=url, study="shared")
    assert _done(trials) == 5
    assert not [t for t in trials if t.state.name == "RUNNING"]


def test_hopeless_learning_rates_are_pruned(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "prune"
    space = ("--space", "lr=0.0000001,0.0000002,0.0000003,0.15,0.2,0.25,0.3")
    args = ("tune", "toy.mlp", "--trials", "7", *space, "--sampler", "grid", "--sampler-seed", "3", "--epochs", "4")
    result = zoo_cli(*args, "--out", str(out), sites=(toy_site,))
    assert result.returncode == 0, result.stderr
    rows = _rows(out)
    pruned = [r for r in rows if r["state"] == "pruned"]
    assert pruned, rows
    assert all(float(r["lr"]) < 1e-6 for r in pruned), rows
    for row in pruned:  # a pruned trial keeps its run folder, marked pruned
        run = out / f"trial-{int(row['number']):04d}"
        outcome = json.loads((run / "outcome.json").read_text())
        assert outcome["status"] == "pruned" and outcome["epochs_done"] < 4
        assert (run / "last.safetensors").is_file()
    assert float(max(rows, key=lambda r: float(r["value"]) if r["state"] == "complete" else -1)["lr"]) > 0.1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--space", "lr=abc"), "--space lr=abc: not a range LOW..HIGH or a list A,B,C"),
        (("--space", "lr=1..0"), "--space lr=1..0: LOW must be below HIGH"),
        (("--space", "lr=a,b"), "--space lr=a,b: --lr expects float, got 'a'"),
        (("--space", "lr=-1..1"), "--space lr=-1..1:"),
        (("--space", "epochs=1.5..3"), "--space epochs=1.5..3: --epochs takes whole numbers"),
        (("--space", "lr=0..1:log"), "a log range needs LOW above 0"),
        (("--space", "colour=1..2"), "--space colour=1..2: unknown option --colour for this model"),
        (("--space", "lr=0.1..0.2", "--trials", "0"), "--trials must be between 1 and 10000, got 0"),
        (("--space", "lr=0.1..0.2", "--sampler", "grid"), "the grid sampler needs a list A,B,C"),
        (("--space", "lr=0.1..0.2", "--workers", "0"), "--workers must be between 1 and 64"),
        (("--space", "lr=0.1..0.2", "--lr", "0.1"), "--lr is fixed on the command line and searched too"),
        (("--space", "lr=0.1..0.2", "--resume", "x"), "--resume cannot be used with zoo tune"),
        (("--space", "lr=0.1..0.2", "--study", "../up"), "--study '../up': a study name is"),
        (("--space", "lr=0.1..0.2", "--timeout", "-1"), "--timeout must be above 0"),
        ((), "toy.mlp declares no search space and none was given"),
        (
            ("--space", "lr=0.1..0.2", "--storage", "postgresql://zoo:secret@127.0.0.1:9/none"),
            "--storage postgresql://zoo:***@127.0.0.1:9/none: cannot be reached",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    zoo_cli: Runner, toy_site: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = zoo_cli("tune", "toy.mlp", *args, "--out", str(tmp_path / "bad"), sites=(toy_site,))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "secret" not in result.stderr
    assert not (tmp_path / "bad" / "trial-0000").exists()


def test_a_study_of_another_model_or_direction_is_refused(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    first = ("tune", "toy.line", "--trials", "1", "--space", "lr=0.01..0.1", "--storage", url, "--study", "s")
    assert zoo_cli(*first, "--out", str(tmp_path / "a"), sites=(toy_site,)).returncode == 0
    other = zoo_cli(
        "tune", "toy.mlp", *first[2:], "--out", str(tmp_path / "b"), sites=(toy_site,)
    )  # same study, another model
    assert other.returncode == 2 and "study 's' in sqlite:///" in other.stderr and "tunes toy.line" in other.stderr
    flipped = zoo_cli(*first, "--direction", "maximize", "--out", str(tmp_path / "a"), sites=(toy_site,))
    assert flipped.returncode == 2 and "minimizes val_mse" in flipped.stderr, flipped.stderr


def test_ctrl_c_fails_the_trial_and_the_same_command_continues(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "int"
    args = ("tune", "toy.mlp", "--trials", "3", *SPACE, "--method", "interrupt", "--epochs", "3", "--out", str(out))
    first = zoo_cli(*args, env={"TOY_SIGINT": "2:1:1"}, sites=(toy_site,))
    assert first.returncode == 130, first.stdout + first.stderr
    assert "run the same command again" in first.stderr and "Traceback" not in first.stderr
    interrupted = _trials(out)[0]
    assert interrupted.state.name == "FAIL" and interrupted.user_attrs["error"] == "interrupted"
    assert (out / "trial-0000" / "last.safetensors").is_file()  # saved as zoo train saves
    again = zoo_cli(*args, sites=(toy_site,))
    assert again.returncode == 0, again.stderr
    trials = _trials(out)
    assert _done(trials) == 3 and not [t for t in trials if t.state.name == "RUNNING"]
    retried = [t for t in trials if t.user_attrs.get("retry_of") == 0]
    assert len(retried) == 1 and retried[0].params == interrupted.params


def _first_epoch_logged(path: Path, seconds: float) -> bool:
    """Whether ``path`` holds one whole line within ``seconds``: the trial has recorded an epoch."""
    deadline = time.monotonic() + seconds
    while not path.read_text(encoding="utf-8").endswith("\n"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_killed_worker_trial_is_failed_and_run_again(toy_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "kill"
    command = [sys.executable, "-m", "zoo", "tune", "toy.mlp", "--trials", "2", *SPACE, "--method", "slow"]
    command += ["--epochs", "3", "--pruner", "none", "--out", str(out), "-q"]
    proc = subprocess.Popen(command, env=_env(toy_site, tmp_path, TOY_EPOCH_SECONDS="1"), cwd=tmp_path)
    try:
        assert wait_for(out / "trial-0000" / "metrics.jsonl", 120)
        assert _first_epoch_logged(out / "trial-0000" / "metrics.jsonl", 120)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert _trials(out)[0].state.name == "RUNNING"
    again = subprocess.run(
        command[:-1], env=_env(toy_site, tmp_path, TOY_EPOCH_SECONDS="0"), cwd=tmp_path, capture_output=True, text=True
    )  # without -q: the recovered trial is named
    assert again.returncode == 0, again.stderr
    assert "trial 0 failed: its process ended before it did" in again.stderr
    trials = _trials(out)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert trials[0].state.name == "FAIL" and _done(trials) == 2
    assert [t.params for t in trials if t.user_attrs.get("retry_of") == 0] == [trials[0].params]
