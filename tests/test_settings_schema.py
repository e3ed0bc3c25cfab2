"""One declaration per run option: a throw-away setting shows up everywhere the declared settings are read.

The throw-away setting is added to ``zoo.contracts.settings.SETTINGS`` for one test and
then looked for in ``zoo train --help``, ``--print-config`` and ``--config``, ``config.json``,
``zoo.train``'s and ``zoo.fit``'s keywords, ``--resume`` and ``zoo tune``'s fixed and refused
keys, without touching any other file. In-process: typer's CliRunner and ``zoo.train``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import zoo
from zoo.contracts import settings
from zoo.contracts.setting import Setting
from zoo.errors import UsageError

THROWAWAY = Setting(
    "trace_level",
    "int",
    "How much the run traces (a throw-away option of this test).",
    metavar="LEVEL",
    low=0,
    high=9,
    config="setting",
    on_resume="keep",
)


def _declare(monkeypatch: pytest.MonkeyPatch, extra: Setting) -> Any:
    """Add ``extra`` to the declaration and regenerate the commands' options from it; the typer app."""
    from zoo.cli import full_app
    from zoo.cli.common import with_settings

    app = full_app()
    from zoo.cli import bench, training, tune

    kept = [s for s in settings.SETTINGS if s.name != extra.name]
    monkeypatch.setattr(settings, "SETTINGS", (*kept, extra))
    commands = (
        (training.train_cmd, "train", training.COMPLETION, ()),
        (tune.tune_cmd, "tune", None, tune.TUNE_OPTIONS),
        (bench.bench_cmd, "bench", None, bench.BENCH_OPTIONS),
    )
    for function, command, completion, own in commands:
        monkeypatch.setattr(function, "__signature__", inspect.signature(function))  # restored afterwards
        with_settings(command, extra=completion, own=own)(function)
    return app


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    yield _declare(monkeypatch, THROWAWAY)


def _invoke(app: Any, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=True)


def test_the_throwaway_option_is_in_the_help_and_bounded_by_its_declaration(app: Any) -> None:
    shown = _invoke(app, "train", "--help")
    assert shown.exit_code == 0, shown.output
    assert "--trace-level LEVEL" in shown.output and "a throw-away option" in shown.output
    refused = _invoke(app, "train", "tabular.linear", "--trace-level", "12", "--print-config")
    assert isinstance(refused.exception, UsageError)
    assert refused.exception.message == "--trace-level must be between 0 and 9, got 12"
    with pytest.raises(UsageError, match="trace_level= must be between 0 and 9, got 12"):
        zoo.train("tabular.linear", trace_level=12, quiet=True)


def test_the_throwaway_option_makes_the_config_round_trip(app: Any, tmp_path: Path) -> None:
    from zoo.training.runconfig import check_config

    printed = _invoke(app, "train", "tabular.linear", "--trace-level", "3", "--lr", "0.05", "--print-config")
    assert printed.exit_code == 0, printed.output
    config = json.loads(printed.stdout)
    assert config["trace_level"] == 3 and config["hparams"]["lr"] == 0.05
    written = tmp_path / "run.json"
    written.write_text(json.dumps(config))
    again = _invoke(app, "train", "--config", str(written), "--print-config")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == config
    overridden = _invoke(app, "train", "--config", str(written), "--trace-level", "5", "--print-config")
    assert json.loads(overridden.stdout)["trace_level"] == 5
    with pytest.raises(UsageError, match="'trace_level' must be between 0 and 9, got 10"):
        check_config({**config, "trace_level": 10}, written)
    with pytest.raises(UsageError, match="'trace_level' must be a whole number or null"):
        check_config({**config, "trace_level": "high"}, written)


def test_the_throwaway_option_is_a_keyword_of_zoo_train_kept_on_resume(app: Any, tmp_path: Path) -> None:
    assert "trace_level" in zoo.fit_keywords()
    run_dir = tmp_path / "run"
    zoo.train("tabular.linear", epochs=1, trace_level=4, out=run_dir, quiet=True)
    assert json.loads((run_dir / "config.json").read_text())["trace_level"] == 4
    with pytest.raises(UsageError, match="trace_level= cannot be given with resume="):
        zoo.train("tabular.linear", resume=run_dir, trace_level=5, quiet=True)
    zoo.train("tabular.linear", resume=run_dir, epochs=2, quiet=True)
    assert json.loads((run_dir / "config.json").read_text())["trace_level"] == 4


def test_a_throwaway_option_that_may_change_on_resume_changes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "data"))
    _declare(monkeypatch, dataclasses.replace(THROWAWAY, on_resume="change"))
    run_dir = tmp_path / "run"
    zoo.train("tabular.linear", epochs=1, trace_level=4, out=run_dir, quiet=True)
    zoo.train("tabular.linear", resume=run_dir, epochs=2, trace_level=6, quiet=True)
    assert json.loads((run_dir / "config.json").read_text())["trace_level"] == 6


def test_the_throwaway_option_is_fixed_for_every_trial_or_refused(monkeypatch: pytest.MonkeyPatch, app: Any) -> None:
    from zoo.cli.tune import fixed_options

    assert fixed_options("tabular.linear", ["--trace-level", "4", "--lr", "0.1"]) == {"trace_level": 4, "lr": "0.1"}
    with pytest.raises(UsageError, match="--trace-level must be between 0 and 9, got 11"):
        fixed_options("tabular.linear", ["--trace-level", "11"])
    _declare(monkeypatch, dataclasses.replace(THROWAWAY, tune="refused"))
    with pytest.raises(UsageError, match="--trace-level cannot be used with zoo tune"):
        fixed_options("tabular.linear", ["--trace-level", "4"])


def test_a_bound_gives_one_message_from_the_cli_the_api_and_a_recipe() -> None:
    from zoo.cli import full_app
    from zoo.training.hparams import HParams

    app = full_app()
    cli = _invoke(app, "train", "tabular.linear", "--lr", "0", "--print-config")
    assert isinstance(cli.exception, UsageError)
    with pytest.raises(UsageError) as recipe:
        HParams.from_dict({**zoo.get_spec("tabular.linear").recipe(None).resolved(), "lr": 0.0})
    assert cli.exception.message == recipe.value.message == "--lr must be a finite number above 0, got 0.0"
    negative = _invoke(app, "train", "tabular.linear", "--lr", "-1", "--print-config")
    assert isinstance(negative.exception, UsageError)  # not typer's own range message
    assert negative.exception.message == "--lr must be a finite number above 0, got -1.0"


def test_shared_options_have_one_declaration_and_one_device_default() -> None:
    import typer.main

    from zoo.cli import full_app
    from zoo.serve import limits
    from zoo.training.hparams import check_seed

    group: Any = typer.main.get_command(full_app())
    for name in ("train", "eval", "predict", "bench"):
        device = next(p for p in group.commands[name].params if p.name == "device")
        assert device.default == "auto", name
        assert device.help == settings.setting("device").help, name
    for name in ("list", "train", "eval", "predict", "bench", "tune", "runs", "check", "export"):
        shown = next(p for p in group.commands[name].params if "--json" in p.opts)
        assert shown.help == settings.setting("json").help, name
    assert limits.MAX_SEED == settings.MAX_SEED == settings.setting("seed").high
    assert check_seed(settings.MAX_SEED) == settings.MAX_SEED
    with pytest.raises(UsageError, match="--seed must be between 0 and"):
        check_seed(settings.MAX_SEED + 1)


def test_the_commands_are_short() -> None:
    from zoo.cli import bench, training, tune

    for function in (training.train_cmd, tune.tune_cmd, bench.bench_cmd):
        lines = len(inspect.getsource(function).splitlines())
        assert lines <= 60, (function.__name__, lines)


def test_a_model_s_own_options_are_in_its_train_help() -> None:
    from zoo.cli import full_app

    shown = _invoke(full_app(), "train", "tabular.linear", "--help")
    assert shown.exit_code == 0, shown.output
    assert "Options of tabular.linear" in shown.output
    assert "--grid-step FLOAT" in shown.output and "--val-fraction FLOAT" in shown.output
    assert "--in-features INT" in shown.output


def test_tune_metric_is_each_trial_s_own_metric_where_the_recipe_takes_one(tmp_path: Path) -> None:
    from zoo.tuning.objective import chosen_metric, runs_take_metric
    from zoo.tuning.study import _plan

    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n" + "".join(f"{i % 7},{i % 5},{'xy'[i % 2]}\n" for i in range(40)))
    base = _plan("tabular.classifier", {"data": str(table), "device": "cpu"})
    assert runs_take_metric(base, "macro_f1", {}) and not runs_take_metric(base, "macro_f1", {"metric": "accuracy"})
    assert chosen_metric(base, "macro_f1", None) == ("val_macro_f1", True)
    summary = zoo.tune(
        "tabular.classifier",
        data=str(table),
        device="cpu",
        metric="balanced_accuracy",
        trials=1,
        epochs=1,
        space={"lr": "0.001..0.01:log"},
        out=tmp_path / "tune",
    )
    assert summary["metric"] == "val_balanced_accuracy"
    trial = json.loads((tmp_path / "tune" / "trial-0000" / "config.json").read_text())
    assert trial["hparams"]["metric"] == "balanced_accuracy"
