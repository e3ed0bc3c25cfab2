"""``zoo bench --quick`` on a copy of the toy plugin whose recipes declare targets and expected ranges."""

from __future__ import annotations

import json
from pathlib import Path

from zoo_testkit import TOY_IMPL, TOY_PLUGIN, Runner, write_plugin

# The toy models with a target and an expected range on their default recipes, two epochs
# long so --quick runs them in full, and a notes' recipe on the classifier.
BENCH_PLUGIN = (
    TOY_PLUGIN.replace(
        'Recipe("default", "adam", {"epochs": 3, "batch_size": 16, "lr": 0.05,\n'
        '                                                           "optimizer": "adam"})',
        'Recipe("default", "adam", {"epochs": 2, "batch_size": 16, "lr": 0.05, "optimizer": "adam"},\n'
        '                                       target=("mse", 1e6), expected=EXPECTED_MSE)',
    )
    .replace(
        'Recipe("default", "sgd", {"epochs": 3, "batch_size": 8, "lr": 0.1,\n'
        '                                                          "momentum": 0.9}),',
        'Recipe("default", "sgd", {"epochs": 2, "batch_size": 8, "lr": 0.1, "momentum": 0.9},\n'
        '                                       target=("accuracy", 0.5), expected=(0.5, 1.0)),\n'
        '                                Recipe("seed", "plain sgd", {"epochs": 2, "batch_size": 8, "lr": 0.05}),',
    )
    .replace("from zoo import", "EXPECTED_MSE = {expected}\nfrom zoo import", 1)
)


def bench_site(root: Path, expected_mse: tuple[float, float]) -> Path:
    plugin = BENCH_PLUGIN.replace("{expected}", repr(expected_mse))
    assert "EXPECTED_MSE)" in plugin and '"seed"' in plugin, "the toy plugin changed; update BENCH_PLUGIN"
    site = root / f"site-{abs(hash(expected_mse))}"
    write_plugin(site, "toy-plugin", "toyplug", {"__init__.py": plugin, "impl.py": TOY_IMPL}, {"toy": "toyplug"})
    return site


def test_bench_quick_json(zoo_cli: Runner, tmp_path: Path) -> None:
    site = bench_site(tmp_path, (0.0, 100.0))
    result = zoo_cli("bench", "toy.*", "--quick", "--device", "cpu", "--json", sites=(site,))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {(r["model"], r["recipe"]): r for r in json.loads(result.stdout)}
    assert set(rows) == {("toy.line", "default"), ("toy.mlp", "default"), ("toy.mlp", "seed")}
    mlp = rows["toy.mlp", "default"]
    assert mlp["status"] == "ok" and mlp["in_range"] is True and mlp["flagged"] is False
    assert mlp["metric"] == "accuracy" and mlp["target"] == 0.5 and mlp["epochs"] == 2
    # --quick runs share one process: a smoke check, so no memory figure is claimed for a run
    assert mlp["samples_per_s"] > 0 and mlp["peak_rss_mb"] is None and mlp["device"] == "cpu"
    line = rows["toy.line", "default"]
    # An easy target on a lower-is-better metric is reached in the first epoch.
    assert line["metric"] == "mse" and line["target_epoch"] == 1
    assert 0 < line["seconds_to_target"] <= line["train_seconds"]
    notes = rows["toy.mlp", "seed"]
    assert notes["status"] == "skipped" and "--quick" in notes["reason"] and notes["flagged"] is False


def test_bench_table_flags_final_metric_out_of_range(zoo_cli: Runner, tmp_path: Path) -> None:
    site = bench_site(tmp_path, (-2.0, -1.0))  # no mean squared error is negative
    result = zoo_cli("bench", "toy.*", "--quick", "--device", "cpu", sites=(site,))
    assert result.returncode == 1, result.stdout + result.stderr
    smoke, header, *lines = result.stdout.splitlines()
    assert smoke.startswith("2 epochs: smoke only") and "no target" not in result.stdout
    for column in ("model", "recipe", "time to target", "final", "samples/s", "peak memory", "status"):
        assert column in header
    line = next(text for text in lines if text.startswith("toy.line"))
    assert "OUT OF RANGE: final mse" in line and "outside the expected [-2, -1]" in line
    mlp = next(text for text in lines if text.startswith("toy.mlp") and "default" in text)
    assert "accuracy" in mlp and "in [0.5, 1]" in mlp and mlp.rstrip().endswith("ok")
    assert any("seed (notes)" in text and "skipped" in text for text in lines)
    assert "1 run(s) flagged: toy.line default" in result.stderr


def test_bench_fails_a_target_on_a_metric_the_run_never_reports(zoo_cli: Runner, tmp_path: Path) -> None:
    site = bench_site(tmp_path, (0.0, 100.0))
    init = site / "toyplug" / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8").replace('("accuracy", 0.5)', '("val_accuracy", 0.5)'))
    result = zoo_cli("bench", "toy.mlp", "--quick", "--device", "cpu", "--json", sites=(site,))
    assert result.returncode == 1, result.stdout + result.stderr
    row = next(r for r in json.loads(result.stdout) if r["recipe"] == "default")
    assert row["status"] == "failed" and row["flagged"] is True
    assert (
        "no metric 'val_accuracy'" in row["reason"]
        and "it reports: accuracy, " in row["reason"]
        and "loss" in row["reason"]
        and "confusion" not in row["reason"]  # numbers only: no per-class lists
    )


def test_bench_skips_a_model_without_offline_data(zoo_cli: Runner, tmp_path: Path) -> None:
    site = bench_site(tmp_path, (0.0, 100.0))
    impl = site / "toyplug" / "impl.py"
    impl.write_text(
        impl.read_text(encoding="utf-8")
        + "\ndef load_blobs(request):\n"
        + "    from zoo.errors import DataError\n"
        + "    raise DataError('blobs.bin is missing and downloading is turned off')\n",
        encoding="utf-8",
    )
    result = zoo_cli("bench", "toy.mlp", "--quick", "--device", "cpu", "--json", sites=(site,))
    assert result.returncode == 0, result.stdout + result.stderr
    (row, notes) = json.loads(result.stdout)
    assert row["status"] == "skipped" and "blobs.bin is missing" in row["reason"] and notes["status"] == "skipped"


def test_bench_refuses_an_unknown_pattern(zoo_cli: Runner, toy_site: Path) -> None:
    result = zoo_cli("bench", "nothing.*", "--quick", sites=(toy_site,))
    assert result.returncode == 2 and "no installed model matches" in result.stderr


def test_quick_bench_of_a_fresh_install_is_a_passing_smoke_check(zoo_cli: Runner, tmp_path: Path) -> None:
    """No data downloaded, no CSV given: the models that need either are skipped with the reason, exit 0."""
    first_party = {"ZOO_LOAD_PLUGINS": "tabular,vision,seq", "ZOO_DATA_DIR": str(tmp_path / "empty")}
    result = zoo_cli("bench", "--quick", "--device", "cpu", env=first_party)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2 epochs: smoke only") and "no target" not in result.stdout
    regressor = next(line for line in lines if line.startswith("tabular.regressor"))
    assert "skipped: needs your data" in regressor and "--data FILE.csv" in regressor
    assert "flagged" not in result.stderr
    ran = [line for line in lines[2:] if line.rstrip().endswith(" ok")]
    assert len(ran) >= 5  # every first-party model with data of its own trained its two smoke epochs
