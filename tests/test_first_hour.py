"""What a newcomer sees first: zoo weights, zoo info, predict's options and its plain output."""

from __future__ import annotations

import json
import re
from pathlib import Path

from zoo_testkit import Runner

from zoo.cli.using import plain_line

#: The three first-party plugins, as a user has them.
ALL = {"ZOO_LOAD_PLUGINS": "tabular,vision,seq"}
DIGIT = sorted((Path(__file__).parent.parent / "packages/zoo-vision/src/zoo_vision/examples").glob("*.png"))[0]


def test_weights_table_in_a_pipe_shows_command_and_short_hash(zoo_cli: Runner) -> None:
    done = zoo_cli("weights", env=ALL, check=True)
    listed = json.loads(zoo_cli("weights", "--json", env=ALL, check=True).stdout)
    lines = done.stdout.splitlines()
    assert len(lines) == 1 + len(listed)  # one row per line, nothing wrapped
    for entry in listed:
        row = next(line for line in lines if line.startswith(f"{entry['model']}:{entry['tag']} "))
        assert entry["sha256"][:12] in row and entry["sha256"] not in row
        assert row.endswith(entry["command"])
        assert entry["train_seconds"] > 0
    seq = [e for e in listed if e["model"].startswith(("seq.", "tabular."))]
    assert seq and all(e["train_seconds"] < 10 and "torch thread" in e["machine"] for e in seq)


def test_info_separates_recipe_fields_and_lists_identical_variants_once(zoo_cli: Runner) -> None:
    text = zoo_cli("info", "vision.cnn", env=ALL, check=True).stdout
    assert "(default) [" not in text
    assert re.search(r"default \[cpu\] = cpu: .*; target accuracy >= 0\.99, expected \[", text)
    recipe_lines = [line for line in text.splitlines() if line.startswith("    ") and not line.startswith("      ")]
    assert len([line for line in recipe_lines if "on a CPU" in line]) == 1


def test_out_of_range_top_is_refused_with_the_range(zoo_cli: Runner) -> None:
    # The declared bound refuses 0 before the model is asked; the model's 10 classes bound the top.
    for value, allowed in (("0", "at least 1"), ("30", "1 to 10")):
        done = zoo_cli("predict", "vision.cnn", str(DIGIT), "--top", value, env=ALL)
        assert done.returncode == 2, done.stderr
        assert f"error: --top must be {allowed}, got {value}" in done.stderr
        assert "Traceback" not in done.stderr
    shown = zoo_cli("predict", "vision.cnn", str(DIGIT), "--top", "10", env=ALL, check=True).stdout
    assert shown.count("top:") == 1


def test_plain_predict_output_shows_the_fields_a_plugin_adds() -> None:
    assert plain_line({"input": "1,0", "output": 0.25, "probability": 0.25, "label": 0}) == "1,0 -> 0.25  label=0"
    line = plain_line({"input": "x", "output": 1, "label": "cat", "inverted": True, "top": [1, 2]})
    assert line == "x -> 1  label=cat  inverted=true"
    assert plain_line({"input": "x", "output": 1, "display": "p=0.9", "label": 2}) == "x -> 1  p=0.9"
