"""Trust regressions for run configuration: the config-file schema (shared with --KEY VALUE typing),
bounded reads of every file a run folder or the command line names, bench baselines checked before
anything runs, --folds with the options it must honour or refuse, what a resume needs, and full or
read-only disks and odd run folders as one clear error."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from zoo_testkit import TOY_IMPL, TOY_PLUGIN, Runner, write_plugin

from zoo.contracts.options import MAX_INT, coerce, split_overrides
from zoo.contracts.spec import DatasetSpec, ModelSpec, Recipe
from zoo.errors import UsageError
from zoo.training.hparams import HParams
from zoo.training.runconfig import INFORMATIONAL, SETTINGS, check_config

# A dataset that takes part in --folds, and a method that stops the run at a chosen epoch:
# STOP="EPOCH:KILL" kills the process at the start of that (1-based) epoch, "EPOCH:INT" sends Ctrl-C.
FOLD_PLUGIN = """
from zoo import DatasetSpec, ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("blobs", "blobs in folds", "foldy.impl:load", options={"fold": 0, "folds": 1}))

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("mlp", "3-class MLP", "multiclass", "toyplug.impl:build_mlp", "foldy.blobs",
                       recipes=(Recipe("default", "sgd", {"epochs": 2, "batch_size": 8, "lr": 0.1}),),
                       config={"hidden": 8}, adapter="foldy.impl:StopAdapter"))
"""
FOLD_IMPL = """
import os, signal
import torch
from zoo.contracts.adapter import ModelAdapter, autograd_epoch
from zoo.contracts.data import DataBundle, TensorSplit

def load(request):
    g = torch.Generator().manual_seed(7)
    y = torch.arange(60) % 3
    x = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])[y] + 0.5 * torch.randn(60, 2, generator=g)
    k, i = max(int(request.options["folds"]), 2), int(request.options["fold"])
    held = torch.arange(60) % k == i
    return DataBundle(TensorSplit(x[~held], y[~held]), TensorSplit(x[held], y[held]), num_classes=3)

class StopAdapter(ModelAdapter):
    def strategies(self):
        def stop(ctx):
            epoch, how = (os.environ.get("STOP") or "0:none").split(":")
            if ctx.epoch + 1 == int(epoch):
                os.kill(os.getpid(), signal.SIGKILL if how == "KILL" else signal.SIGINT)
            autograd_epoch(ctx)
        return {**super().strategies(), "stop": stop}
"""


@pytest.fixture
def fold_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    write_plugin(site, "toy-plugin", "toyplug", {"__init__.py": TOY_PLUGIN, "impl.py": TOY_IMPL}, {"toy": "toyplug"})
    write_plugin(site, "foldy-plugin", "foldy", {"__init__.py": FOLD_PLUGIN, "impl.py": FOLD_IMPL}, {"foldy": "foldy"})
    return site


def clean_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp-*")) if folder.is_dir() else []


def saved_epoch(path: Path) -> int:
    with safe_open(str(path), framework="pt") as fh:
        return int(fh.metadata()["epoch"])


# -- the schema, in process -----------------------------------------------------------

SPEC = ModelSpec(
    "mlp",
    "an MLP",
    "multiclass",
    "toyplug.impl:build_mlp",
    "toy.blobs",
    recipes=(Recipe("default", "sgd", {"epochs": 3, "lr": 1, "grid_step": 0.1}),),
    config={"hidden": 8, "layers": [4, 4], "bias": True, "act": "relu"},
    namespace="toy",
)
DATASET = DatasetSpec(
    "blobs", "blobs", "toyplug.impl:load_blobs", options={"samples": 90, "noise": 0.5}, namespace="toy"
)
#: One key of each type the schema knows, and where it lives.
SLOTS: list[tuple[str | None, str, Any]] = [
    ("hparams", "epochs", 3),
    ("hparams", "lr", 0.01),
    ("hparams", "grid_step", 0.1),
    ("hparams", "optimizer", "sgd"),
    ("data_options", "samples", 90),
    ("data_options", "noise", 0.5),
    ("config", "hidden", 8),
    ("config", "layers", [4, 4]),
    ("config", "bias", True),
    ("config", "act", "relu"),
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def fits(value: Any, default: Any) -> bool:
    """What the command line would accept for a value of this JSON type."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
    if isinstance(default, str):
        return isinstance(value, str)
    return isinstance(value, list) and all(fits(v, default[0]) for v in value)


def cli_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(cli_text(v) for v in value)
    return value if isinstance(value, str) else repr(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slot=st.sampled_from(SLOTS), value=JSON_VALUES)
def test_a_file_value_is_taken_exactly_when_its_type_fits(slot: tuple[str, str, Any], value: Any):
    group, key, default = slot
    config = check_config({"model": "toy.mlp", group: {key: value}}, "run.json")
    if not fits(value, default):
        with pytest.raises(UsageError) as caught:
            config.overrides(SPEC, DATASET, keep_hparams=True)
        assert caught.value.message.startswith(f"run.json: '{group}.{key}' ")
        return
    if group == "hparams":  # a value of the right type may still be out of range (epochs 0)
        try:
            HParams.from_dict({**SPEC.recipe().resolved(), key: value})
        except UsageError:
            with pytest.raises(UsageError, match="^run.json: 'hparams' do not fit: "):
                config.overrides(SPEC, DATASET, keep_hparams=True)
            return
    taken = config.overrides(SPEC, DATASET, keep_hparams=True)[key]
    if isinstance(default, float):
        assert type(taken) is float and taken == float(value)
    else:
        assert type(taken) is type(default) and taken == value
    if not (isinstance(value, list) and not value) and not (isinstance(value, str) and "_" in value):
        # the command line reads the same value from its text form
        text = cli_text(value)
        if text.strip() == text and "," not in (value if isinstance(value, str) else ""):
            assert coerce(key, text, default) == taken


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(sorted(SETTINGS)), value=JSON_VALUES)
def test_top_level_values_of_the_wrong_type_name_the_file_and_key(key: str, value: Any):
    data = {"model": "toy.mlp", key: value}
    kinds = SETTINGS[key]
    good = isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))
    if key in ("seed", "save_every", "early_stop") and good and value is not None:
        good = 0 <= value < 2**63
    if key == "model":
        good = isinstance(value, str) and bool(value)
    if key == "precision" and good and value is not None:
        good = value in ("fp32", "bf16", "fp16")
    if good:
        assert check_config(data, "run.json").model == data["model"]
    else:
        with pytest.raises(UsageError) as caught:
            check_config(data, "run.json")
        assert "run.json" in caught.value.message and (
            "model" in caught.value.message or repr(key) in str(caught.value)
        )


@settings(max_examples=100, deadline=None)
@given(key=st.text(min_size=1, max_size=12))
def test_unknown_keys_are_refused_and_informational_ones_ignored(key: str):
    data = {"model": "toy.mlp", key: 1}
    if key in SETTINGS or key == "model":
        return
    if key in INFORMATIONAL:
        assert check_config(data, "run.json").values == {}
        return
    with pytest.raises(UsageError, match="is not a key of a run configuration"):
        check_config(data, "run.json")


def test_a_misspelt_key_gets_the_suggestion_the_command_line_gives():
    config = check_config({"model": "toy.mlp", "config": {"hiden": 3}}, "run.json")
    with pytest.raises(UsageError) as caught:
        config.overrides(SPEC, DATASET, keep_hparams=True)
    assert "'config.hiden'" in caught.value.message and "did you mean 'hidden'" in str(caught.value.hint)
    with pytest.raises(UsageError) as cli:
        split_overrides({"hiden": "3"}, {"config": SPEC.config})
    assert "did you mean --hidden" in str(cli.value.hint)
    with pytest.raises(UsageError) as top:
        check_config({"model": "toy.mlp", "sed": 1}, "run.json")
    assert "'sed'" in top.value.message and "did you mean 'seed'" in str(top.value.hint)


# -- the schema, through the CLI ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ({"model": "toy.mlp", "seed": 1.9}, ["'seed'", "whole number"]),
        ({"model": "toy.mlp", "deterministic": "false"}, ["'deterministic'", "true or false"]),
        ({"model": "toy.mlp", "config": {"hiden": 4}}, ["'config.hiden'", "did you mean 'hidden'"]),
        ({"model": "toy.mlp", "weights": "default"}, ["no weights tagged 'default'"]),
    ],
)
def test_config_file_mistakes_are_one_error_naming_file_and_key(
    toy_site: Path, tmp_path: Path, zoo_cli: Runner, content: dict[str, Any], needles: list[str]
):
    (tmp_path / "run.json").write_text(json.dumps(content), encoding="utf-8")
    proc = zoo_cli("train", "--config", "run.json", "--epochs", "1", "--out", "run", sites=(toy_site,))
    clean_error(proc, 2, *needles)
    if "weights" not in content:
        assert "run.json" in proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["dev-zero-link", "fifo"])
def test_config_that_is_not_a_regular_file_is_refused_at_once(
    toy_site: Path, tmp_path: Path, zoo_cli: Runner, kind: str
):
    path = tmp_path / "run.json"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    clean_error(zoo_cli("train", "--config", "run.json", sites=(toy_site,)), 2, "run.json", "not a regular file")


def test_a_run_folder_whose_files_are_devices_is_refused_not_read(
    trained: Path, toy_site_module: Path, tmp_path: Path, zoo_cli: Runner
):
    run = tmp_path / "runs" / "copy"
    shutil.copytree(trained, run)
    (run / "config.json").unlink()
    (run / "config.json").symlink_to("/dev/zero")
    resumed = zoo_cli("train", "--resume", str(run), "--epochs", "3", sites=(toy_site_module,))
    clean_error(resumed, 2, "config.json", "not a regular file")
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").symlink_to("/dev/zero")
    if importlib.util.find_spec("matplotlib") is not None:
        plotted = zoo_cli("plot", str(run), sites=(toy_site_module,))
        clean_error(plotted, 2, "metrics.jsonl", "not a regular file")
    listed = zoo_cli("runs", str(tmp_path / "runs"), sites=(toy_site_module,))
    assert listed.returncode == 0 and "warning" in listed.stderr and "Traceback" not in listed.stderr


# -- bench baselines ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([{"model": "toy.line", "recipe": "default", "device": "cpu"}, [1, 2]], "row 2 is not an object"),
        ([{"model": "toy.line", "recipe": "default", "device": "cpu", "samples_per_s": "fast"}], "'samples_per_s'"),
    ],
)
def test_a_bad_baseline_stops_bench_before_anything_runs(
    toy_site: Path, tmp_path: Path, zoo_cli: Runner, rows: list[Any], needle: str
):
    (tmp_path / "base.json").write_text(json.dumps(rows), encoding="utf-8")
    proc = zoo_cli("bench", "toy.line", "--quick", "--baseline", "base.json", sites=(toy_site,))
    clean_error(proc, 2, "base.json", needle)
    assert "[1/" not in proc.stderr  # no run started


# -- folds -------------------------------------------------------------------------


def test_folds_honour_weights_json_and_save_every(fold_site: Path, tmp_path: Path, zoo_cli: Runner):
    env = {"ZOO_LOAD_PLUGINS": "toy,foldy"}
    zoo_cli("train", "foldy.mlp", "--epochs", "1", "--out", "base", "-q", sites=(fold_site,), env=env, check=True)
    weights = str(tmp_path / "base" / "best.safetensors")
    proc = zoo_cli("train", "foldy.mlp", "--folds", "2", "--weights", weights, "--save-every", "1", "--json",
                   "--out", "cv", sites=(fold_site,), env=env, check=True)  # fmt: skip
    summary = json.loads(proc.stdout)
    assert summary["folds"] == 2 and len(summary["per_fold"]) == 2
    for i in range(2):
        config = json.loads((tmp_path / "cv" / f"fold-{i}" / "config.json").read_text(encoding="utf-8"))
        assert config["weights"] == weights and config["save_every"] == 1
        assert config["data_options"] == {"fold": i, "folds": 2}


def test_folds_with_resume_and_weights_contradicted_by_options_are_refused(
    trained: Path, toy_site_module: Path, zoo_cli: Runner
):
    folds = zoo_cli("train", "--resume", str(trained), "--folds", "3", sites=(toy_site_module,))
    clean_error(folds, 2, "--folds cannot be combined with --resume", "fold-<i>")
    weights = str(trained / "best.safetensors")
    shape = zoo_cli("train", "toy.mlp", "--weights", weights, "--hidden", "4", "--out", "x", sites=(toy_site_module,))
    clean_error(shape, 2, "--hidden 4", "hidden = 8")


# -- what a resume needs ------------------------------------------------------------------


def test_resume_keeps_save_every_and_the_hint_names_the_data_folder(fold_site: Path, tmp_path: Path, zoo_cli: Runner):
    data = tmp_path / "my data"
    run = tmp_path / "run"
    base = ["--resume", str(run)]
    first = zoo_cli("train", "foldy.mlp", "--method", "stop", "--epochs", "30", "--save-every", "3", "--data-dir",
                    str(data), "--out", str(run), "-q", sites=(fold_site,),
                    env={"ZOO_LOAD_PLUGINS": "toy,foldy", "STOP": "8:KILL"})  # fmt: skip
    assert first.returncode == -signal.SIGKILL and saved_epoch(run / "last.safetensors") == 6
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"ZOO_LOAD_PLUGINS": "toy,foldy", "STOP": "14:KILL"}
    second = zoo_cli("train", *base, "-q", sites=(fold_site,), env=env, cwd=elsewhere)
    assert second.returncode == -signal.SIGKILL, second.stderr
    assert saved_epoch(run / "last.safetensors") == 12  # still every 3 epochs, not every 10 s
    env["STOP"] = "16:INT"
    third = zoo_cli("train", *base, "-q", sites=(fold_site,), env=env, cwd=elsewhere)
    assert third.returncode == 130 and "Traceback" not in third.stderr
    hint = next(line for line in third.stderr.splitlines() if "continue with:" in line).split("continue with: ")[1]
    assert shlex.split(hint) == ["zoo", "train", "foldy.mlp", "--resume", str(run), "--data-dir", str(data)]
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["save_every"] == 3 and config["data_dir"] == str(data)


def test_the_library_hint_for_a_used_folder_reads_as_python(trained: Path, toy_site_module: Path, tmp_path: Path):
    code = (
        "import zoo\n"
        "from zoo.errors import UsageError\n"
        f"try: zoo.train('toy.mlp', out={str(trained)!r}, quiet=True)\n"
        "except UsageError as e: print(e.hint)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(toy_site_module), "ZOO_LOAD_PLUGINS": "toy"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "resume=" in proc.stdout and "= " not in proc.stdout, proc.stdout + proc.stderr


# -- full and read-only disks, odd run folders ------------------------------------------------------


def run_limited(tmp_path: Path, site: Path, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``zoo ARGS`` with every file it writes capped at ``limit`` bytes: writes past it fail (EFBIG)."""

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(ZOO_LOAD_PLUGINS="toy", PYTHONPATH=str(site), ZOO_DATA_DIR=str(tmp_path / "data"))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        preexec_fn=cap,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


def test_a_full_disk_at_the_lock_leaves_nothing(toy_site: Path, tmp_path: Path):
    proc = run_limited(tmp_path, toy_site, 0, "train", "toy.mlp", "--out", "run", "-q")
    clean_error(proc, 1, "cannot write", ".lock", "File too large")
    assert not (tmp_path / "run").exists()


def test_a_full_disk_at_the_metrics_append_is_one_error(toy_site: Path, tmp_path: Path):
    proc = run_limited(tmp_path, toy_site, 3000, "train", "toy.mlp", "--out", "run", "--epochs", "300",
                       "--save-every", "0", "-q")  # fmt: skip
    clean_error(proc, 1, "metrics.jsonl", "File too large")
    assert temp_files(tmp_path / "run") == []


def test_resume_on_a_full_disk_leaves_no_temp_file_and_the_log_intact(
    trained: Path, toy_site_module: Path, tmp_path: Path
):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = (run / "metrics.jsonl").read_bytes()
    proc = run_limited(tmp_path, toy_site_module, 100, "train", "--resume", "run", "--epochs", "3", "-q")
    clean_error(proc, 1, "metrics.jsonl", "File too large")
    assert temp_files(run) == [] and (run / "metrics.jsonl").read_bytes() == before


def _read_only(folder: Path) -> list[str] | None:
    """A command prefix under which ``folder`` cannot be written, or None where nothing can do that."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    if shutil.which("unshare") is None:
        return None
    where = shlex.quote(str(folder))
    script = f'mount --bind {where} {where} && mount -o remount,bind,ro {where} && exec "$@"'
    prefix = ["unshare", "-m", "sh", "-c", script, "sh"]
    probe = subprocess.run([*prefix, "sh", "-c", f"! touch {where}/.probe"], capture_output=True)
    return prefix if probe.returncode == 0 else None


def test_plot_on_a_read_only_folder_is_one_error(trained: Path, toy_site_module: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "curves.png").unlink(missing_ok=True)
    prefix = _read_only(run)
    if prefix is None:
        pytest.skip("no way to make a read-only folder here (root without mount namespaces)")
    env = {**os.environ, "PYTHONPATH": str(toy_site_module), "ZOO_LOAD_PLUGINS": "toy"}
    try:
        proc = subprocess.run([*prefix, sys.executable, "-m", "zoo", "plot", str(run)], capture_output=True,
                              text=True, env=env, timeout=300)  # fmt: skip
    finally:
        run.chmod(0o755)
    if "matplotlib is not installed" in proc.stderr:
        pytest.skip("matplotlib is not installed")
    clean_error(proc, 2, "curves.png")
    assert temp_files(run) == [] and not (run / "curves.png").exists()


@pytest.mark.parametrize("target", ["/nonexistent/folder", "toy.mlp"])
def test_a_dangling_or_looping_model_folder_link_is_one_error(
    toy_site: Path, tmp_path: Path, zoo_cli: Runner, target: str
):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "toy.mlp").symlink_to(target)
    proc = zoo_cli("train", "toy.mlp", "--epochs", "1", "-q", sites=(toy_site,))
    clean_error(proc, 2, "runs/toy.mlp", "symlink", "--out")


def test_print_config_config_json_and_resume_share_one_schema(trained: Path, toy_site_module: Path, zoo_cli: Runner):
    """--print-config writes exactly the settings; a run's config.json adds only informational keys."""
    printed = zoo_cli("train", "toy.mlp", "--print-config", sites=(toy_site_module,), check=True)
    assert list(json.loads(printed.stdout)) == list(SETTINGS)
    written = json.loads((trained / "config.json").read_text())
    assert set(SETTINGS) <= set(written) <= set(SETTINGS) | set(INFORMATIONAL)
    assert check_config(written, trained / "config.json").model == "toy.mlp"


def test_run_options_are_one_type_for_plan_train_and_the_cli() -> None:
    import dataclasses
    import inspect

    from zoo.training.plan import make_plan
    from zoo.training.runconfig import RunOptions
    from zoo.training.trainer import train

    # zoo.train has no second list of the options: its keywords are sorted by RunOptions itself.
    assert list(inspect.signature(train).parameters) == ["name", "callbacks", "keywords"]
    names = [f.name for f in dataclasses.fields(RunOptions)]
    options, rest = RunOptions(device="cpu").with_keywords({name: None for name in names} | {"lr": 0.1})
    assert rest == {"lr": 0.1} and options.device is None
    options, rest = RunOptions(device="cpu").with_keywords({"seed": 3, "early_stop": 2, "lr": 0.1})
    assert (options.seed, options.device, options.early_stop, rest) == (3, "cpu", 2, {"lr": 0.1})
    assert "options" in inspect.signature(make_plan).parameters


def test_a_config_file_with_a_negative_early_stop_is_one_usage_error(
    zoo_cli: Runner, toy_site: Path, tmp_path: Path
) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"model": "toy.mlp", "early_stop": -1}))
    result = zoo_cli("train", "--config", str(config), sites=(toy_site,))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{config}: 'early_stop' must be between 0 and" in result.stderr
    assert "Traceback" not in result.stderr
