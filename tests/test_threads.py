"""torch's CPU threads for a run: ``--threads N`` / ``zoo.train(threads=N)``, else zoo's measured choice.

Every run records the count it used in its config.json, and the published weights'
provenance says how many threads made them, with no folder of the build machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from zoo_testkit import Runner

from zoo.errors import UsageError
from zoo.training.threads import SPLIT_WORTH, check_threads, choose_threads

ROOT = Path(__file__).resolve().parents[1]


def test_the_library_takes_threads_and_puts_torchs_back(toy_site: Path, tmp_path: Path) -> None:
    code = (
        "import json, torch, zoo; torch.set_num_threads(2); "
        "zoo.train('toy.mlp', threads=1, epochs=1, device='cpu', quiet=True, out='one'); "
        "print(json.dumps(torch.get_num_threads()))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOO_", "OMP_"))}
    env.update(PYTHONPATH=str(toy_site), ZOO_LOAD_PLUGINS="toy", ZOO_NO_PLOTS="1", ZOO_DATA_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == 2  # the caller's setting is back after the run
    assert json.loads((tmp_path / "one" / "config.json").read_text())["threads"] == 1


def test_the_cli_records_the_given_count_and_chooses_one_for_a_small_model(
    zoo_cli: Runner, toy_site: Path, tmp_path: Path
) -> None:
    base = ("train", "toy.mlp", "--epochs", "1", "--device", "cpu", "-q")
    assert zoo_cli(*base, "--threads", "2", "--out", "two", cwd=tmp_path, sites=(toy_site,)).returncode == 0
    assert json.loads((tmp_path / "two" / "config.json").read_text())["threads"] == 2
    assert zoo_cli(*base, "--out", "auto", cwd=tmp_path, sites=(toy_site,)).returncode == 0
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["threads"] == 1  # too small to split
    # a run's config.json, threads and all, is still a valid --config
    again = zoo_cli("train", "--config", "auto/config.json", "--out", "again", "-q", cwd=tmp_path, sites=(toy_site,))
    assert again.returncode == 0, again.stderr


def test_the_choice_splits_only_costly_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads(87, 32) == 1  # the diabetes MLP
    monkeypatch.setattr("zoo.training.threads.usable_cpus", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert choose_threads(SPLIT_WORTH, 1) == 2  # an idle 2-core machine: both
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    assert choose_threads(SPLIT_WORTH, 1) == 1  # the other core is taken
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(87, 32) == 3  # the user's environment decides


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", 10**6])
def test_a_bad_count_is_refused(bad: object) -> None:
    with pytest.raises(UsageError, match="--threads must be a whole number"):
        check_threads(bad)


def test_published_provenance_names_the_threads_and_no_folder_of_the_build_machine() -> None:
    for manifest in sorted(ROOT.glob("packages/*/src/*/weights/weights.json")):
        for entry in json.loads(manifest.read_text())["weights"]:
            for key in ("command", "metric_command"):
                text = entry.get(key, "")
                assert "/work/" not in text and "/home/" not in text and "/tmp/" not in text, text
                if "--data-dir" in text:
                    assert "--data-dir '<MNIST folder>'" in text or "--data-dir <MNIST folder>" in text, text
            assert "torch thread" in entry["machine"] and "(" in entry["machine"], entry["machine"]
