"""``zoo runs`` compares runs: a column per setting that differs, ``--sort METRIC``, a status column."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from zoo_testkit import Runner

BASE = ["run", "model", "date", "epochs", "best"]
RATES = ("0.1", "0.01", "0.001")


def _train(site: Path, out: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(PYTHONPATH=str(site), ZOO_LOAD_PLUGINS="toy")
    command = [sys.executable, "-m", "zoo", "train", "toy.mlp", "--out", str(out), "--quiet", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def three_rates(tmp_path_factory: pytest.TempPathFactory, toy_site_module: Path) -> Path:
    """Three real toy.mlp runs that differ only in their learning rate."""
    folder = tmp_path_factory.mktemp("rates")
    for i, lr in enumerate(RATES):
        _train(toy_site_module, folder / f"lr-{i}", "--epochs", "2", "--lr", lr)
    return folder


def _best(run: Path, metric: str, lower: bool) -> float:
    values = [json.loads(line)[metric] for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return min(values) if lower else max(values)


def _table(stdout: str) -> tuple[list[str], list[list[str]]]:
    lines = stdout.strip().splitlines()
    return lines[0].split(), [line.split() for line in lines[1:]]


def test_a_column_for_each_setting_that_differs(zoo_cli: Runner, three_rates: Path, toy_site_module: Path) -> None:
    result = zoo_cli("runs", str(three_rates), sites=(toy_site_module,), check=True)
    header, rows = _table(result.stdout)
    assert header == [*BASE, "lr"], result.stdout  # batch_size, seed, data.samples... are the same: no column
    by_run = {Path(r[0]).name: r for r in rows}
    assert {name: row[-1] for name, row in by_run.items()} == {f"lr-{i}": lr for i, lr in enumerate(RATES)}
    assert "status" not in header  # every run finished


def test_sort_puts_the_best_first_by_the_metrics_direction(
    zoo_cli: Runner, three_rates: Path, toy_site_module: Path
) -> None:
    runs = sorted(three_rates.iterdir())
    for metric, lower in (("val_loss", True), ("train_loss", True), ("val_accuracy", False)):
        result = zoo_cli("runs", str(three_rates), "--sort", metric, sites=(toy_site_module,), check=True)
        header, rows = _table(result.stdout)
        assert header == [*BASE, metric, "lr"], result.stdout
        shown = [Path(r[0]).name for r in rows]
        expected = sorted(runs, key=lambda run: _best(run, metric, lower) * (1 if lower else -1))
        values = [_best(three_rates / name, metric, lower) for name in shown]
        assert values == sorted(values, reverse=not lower), (metric, result.stdout)
        assert sorted(shown) == sorted(run.name for run in expected)
    # Losses of these runs differ, so their order is exact: lr 0.1 trains furthest in two epochs.
    loss_order = sorted(runs, key=lambda run: _best(run, "val_loss", True))
    result = zoo_cli("runs", str(three_rates), "--sort", "val_loss", sites=(toy_site_module,), check=True)
    assert [Path(r[0]).name for r in _table(result.stdout)[1]] == [run.name for run in loss_order]
    assert loss_order[0].name == "lr-0"


def test_json_gains_settings_status_and_the_sort_value(
    zoo_cli: Runner, three_rates: Path, toy_site_module: Path
) -> None:
    result = zoo_cli("runs", str(three_rates), "--json", "--sort", "val_loss", sites=(toy_site_module,), check=True)
    records: list[dict[str, Any]] = json.loads(result.stdout)
    assert len(records) == 3
    for record in records:
        run = Path(record["path"])
        assert record["settings"] == {"lr": float(RATES[int(run.name[-1])])}
        assert record["status"] == "finished"
        assert record["sorted_by"] == {"metric": "val_loss", "value": pytest.approx(_best(run, "val_loss", True))}
    values = [r["sorted_by"]["value"] for r in records]
    assert values == sorted(values)


def test_an_unknown_metric_is_a_usage_error_naming_the_known_ones(
    zoo_cli: Runner, three_rates: Path, toy_site_module: Path
) -> None:
    result = zoo_cli("runs", str(three_rates), "--sort", "val_acuracy", sites=(toy_site_module,))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "val_acuracy" in result.stderr and "Traceback" not in result.stderr
    assert "val_accuracy" in result.stderr and "val_loss" in result.stderr and "train_loss" in result.stderr
    assert result.stdout == ""


def test_runs_alike_show_only_the_listing_columns(zoo_cli: Runner, toy_site_module: Path, tmp_path: Path) -> None:
    folder = tmp_path / "alike"
    for name in ("one", "two"):
        _train(toy_site_module, folder / name, "--epochs", "1")
    result = zoo_cli("runs", str(folder), sites=(toy_site_module,), check=True)
    header, rows = _table(result.stdout)
    assert header == BASE and len(rows) == 2, result.stdout
    records = json.loads(zoo_cli("runs", str(folder), "--json", sites=(toy_site_module,), check=True).stdout)
    assert [r["settings"] for r in records] == [{}, {}]


def test_a_terminal_80_wide_gets_the_settings_in_one_wrapping_column(
    zoo_cli: Runner, toy_site_module: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "wide"
    _train(toy_site_module, folder / "trial-0000", "--epochs", "1", "--lr", "0.05", "--batch_size", "4")
    _train(toy_site_module, folder / "trial-0001", "--epochs", "2", "--lr", "0.2", "--hidden", "16", "--seed", "3")
    env = {"FORCE_COLOR": "1", "COLUMNS": "80", "TERM": "xterm"}
    # From where the runs are, as people list them (``zoo runs study``): the paths are short.
    result = zoo_cli("runs", "wide", "--sort", "val_loss", sites=(toy_site_module,), env=env, check=True)
    text = result.stdout
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)  # no colour codes
    assert all(len(line) <= 80 for line in plain.splitlines()), plain
    assert "settings" in plain and "lr=0.05" in plain and "config.hidden=16" in plain, plain
    for run in ("trial-0000", "trial-0001"):
        assert f"wide/{run}" in plain  # paths are never cut
    piped = zoo_cli("runs", str(folder), "--sort", "val_loss", sites=(toy_site_module,), check=True).stdout
    header, _ = _table(piped)
    assert header == [*BASE, "val_loss", "seed", "hparams.epochs", "batch_size", "lr", "config.hidden"], piped


def test_a_path_wider_than_the_terminal_leaves_every_column_readable(
    zoo_cli: Runner, toy_site_module: Path, tmp_path: Path
) -> None:
    folder = tmp_path / ("a-folder-with-a-long-name-" * 3) / "runs"
    _train(toy_site_module, folder / "one", "--epochs", "1")
    env = {"FORCE_COLOR": "1", "COLUMNS": "80", "TERM": "xterm"}
    result = zoo_cli("runs", str(folder), sites=(toy_site_module,), env=env, check=True)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    header, [row] = _table(plain)
    assert header == BASE, plain  # no column squeezed to nothing
    assert row[:2] == [str(folder / "one"), "toy.mlp"], plain


def test_tune_trials_show_how_each_ended(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    out = tmp_path / "prune"
    space = ("--space", "lr=0.0000001,0.0000002,0.0000003,0.15,0.2,0.25,0.3")
    args = ("tune", "toy.mlp", "--trials", "7", *space, "--sampler", "grid", "--sampler-seed", "3", "--epochs", "4")
    zoo_cli(*args, "--out", str(out), sites=(toy_site,), check=True)
    result = zoo_cli("runs", str(out), "--sort", "val_accuracy", sites=(toy_site,), check=True)
    header, rows = _table(result.stdout)
    assert header == [*BASE, "val_accuracy", "lr", "status"], result.stdout
    status = {Path(r[0]).name: r[-1] for r in rows}
    for trial, shown in status.items():
        outcome = json.loads((out / trial / "outcome.json").read_text())
        assert shown == outcome["status"], result.stdout
    assert "pruned" in status.values() and "finished" in status.values()
    assert rows[0][-1] == "finished" and rows[-1][-1] == "pruned"  # best first: pruned trials reached less
    records = json.loads(zoo_cli("runs", str(out), "--json", sites=(toy_site,), check=True).stdout)
    assert {Path(r["path"]).name: r["status"] for r in records} == status
