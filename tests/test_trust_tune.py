"""``zoo tune`` storage and spaces under hostile input: refused before any trial, or repaired, never corrupted.

A journal torn by a killed process is cut back to its last whole record before Optuna
appends; a file that is not a journal, or a damaged one, is refused and left as it was;
in-memory SQLite, unsearchable keys and more workers than the machine holds are said up
front; a resumed seeded study draws new parameters.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from zoo_testkit import Runner

pytest.importorskip("optuna")

SPACE = ("--space", "lr=0.005..0.5:log")


def tune(zoo_cli: Runner, site: Path, out: Path, *args: str) -> tuple[int, str]:
    result = zoo_cli("tune", "toy.mlp", "--epochs", "1", "--out", str(out), *args, sites=(site,))
    return result.returncode, result.stdout + result.stderr


def records(journal: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]


def test_a_torn_last_record_is_cut_before_anything_is_appended(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    code, text = tune(zoo_cli, toy_site, out, "--trials", "1", *SPACE)
    assert code == 0, text
    journal = out / "study.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code":5,"worker_id":"x","trial_id":0,"sta')  # a killed writer
    code, text = tune(zoo_cli, toy_site, out, "--trials", "2", *SPACE)
    assert code == 0, text
    assert "cut a torn last record (line" in text and "Traceback" not in text
    assert journal.read_bytes().startswith(whole)
    assert all("op_code" in r for r in records(journal))  # every line is whole JSON again


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"shopping list\nmilk\n", "is not an Optuna journal; zoo does not write into it"),
        (b'{"op_code":0,"study_name":"s","directions":[1]}\nnot json\n{"op_code":1}\n', "line 2 is not an Optuna"),
        (b"\x00" * 5000, "is not an Optuna journal"),
    ],
)
def test_a_file_that_is_not_a_journal_is_refused_and_left_alone(
    zoo_cli: Runner, toy_site: Path, tmp_path: Path, content: bytes, phrase: str
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(content)
    code, text = tune(zoo_cli, toy_site, tmp_path / "study", "--trials", "1", *SPACE, "--storage", str(notes))
    assert code == 2, text
    assert phrase in text and "Traceback" not in text
    assert notes.read_bytes() == content
    assert not (tmp_path / "study" / "trial-0000").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"])
def test_in_memory_sqlite_is_refused_with_the_reason(zoo_cli: Runner, toy_site: Path, tmp_path: Path, url: str) -> None:
    code, text = tune(zoo_cli, toy_site, tmp_path / "study", "--trials", "1", *SPACE, "--storage", url)
    assert code == 2, text
    assert "in-memory SQLite database lives in one process only" in text and "sqlite:///study.db" in text
    assert "Traceback" not in text and not (tmp_path / "study" / "trial-0000").exists()


@pytest.mark.parametrize("key", ["out", "weights", "data", "resume", "config", "device", "data-dir"])
def test_keys_that_say_where_or_how_are_not_searchable(
    zoo_cli: Runner, toy_site: Path, tmp_path: Path, key: str
) -> None:
    code, text = tune(zoo_cli, toy_site, tmp_path / "study", "--trials", "1", "--space", f"{key}=a,b")
    assert code == 2, text
    assert f"--space {key}=...: --{key} says where or how trials run" in text and "not searchable" in text
    assert "Traceback" not in text and "TypeError" not in text
    assert not (tmp_path / "study" / "trial-0000").exists()


def test_a_resumed_seeded_study_draws_new_parameters(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    seeded = ("--sampler", "random", "--sampler-seed", "7", "--space", "lr=0.001..0.5:log", "--space", "hidden=2..64")
    code, text = tune(zoo_cli, toy_site, out, "--trials", "2", *seeded)
    assert code == 0, text
    code, text = tune(zoo_cli, toy_site, out, "--trials", "4", *seeded)
    assert code == 0, text
    import csv

    with open(out / "trials.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    drawn = [(r["lr"], r["hidden"]) for r in rows]
    assert len(drawn) == 4 and len(set(drawn)) == 4, drawn


def test_more_workers_than_cores_are_capped_with_the_reason(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    import os

    cores = len(os.sched_getaffinity(0))
    code, text = tune(zoo_cli, toy_site, tmp_path / "study", "--trials", "2", *SPACE, "--workers", "64")
    assert code == 0, text
    assert f"note: --workers 64: running {min(cores, 64)}" in text or "GiB of memory available" in text, text
    assert "a worker needs a core and about 512 MiB" in text
