"""The README's "write your own plugin" files, built into a distribution and used through the CLI."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from zoo_testkit import Runner

README = Path(__file__).resolve().parents[1] / "README.md"
tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")


def readme_plugin_files() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(r"<!-- plugin-file: (\S+) -->\n```\w*\n(.*?)```", re.S)
    return {path: body for path, body in pattern.findall(text)}


def install_readme_plugin(site: Path) -> dict[str, str]:
    """Lay the README's plugin package and its dist-info out in ``site`` as an installer would."""
    files = readme_plugin_files()
    project = tomllib.loads(files["pyproject.toml"])["project"]
    package = site / "zoo_hello"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    for path, body in files.items():
        if path.startswith("src/zoo_hello/"):
            (package / Path(path).name).write_text(body, encoding="utf-8")
    info = site / f"zoo_hello-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n", encoding="utf-8"
    )
    entry_points = project["entry-points"]["zoo.plugins"]
    (info / "entry_points.txt").write_text(
        "[zoo.plugins]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()), encoding="utf-8"
    )
    return files


def test_readme_plugin_installs_lists_trains_and_predicts(zoo_cli: Runner, tmp_path: Path) -> None:
    site = tmp_path / "site"
    files = install_readme_plugin(site)
    assert set(files) == {"pyproject.toml", "src/zoo_hello/plugin.py", "src/zoo_hello/impl.py"}
    env = {"ZOO_LOAD_PLUGINS": "hello"}
    listed = json.loads(zoo_cli("list", "--json", sites=(site,), env=env, check=True).stdout)
    assert [m["name"] for m in listed] == ["hello.xor"] and listed[0]["plugin"] == "zoo-hello"
    run = tmp_path / "xor"
    zoo_cli("train", "hello.xor", "--out", str(run), "--quiet", sites=(site,), env=env, check=True)
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["val_accuracy"] == 1.0
    out = zoo_cli("predict", str(run / "best.safetensors"), "1,0", "0,0", "--json", sites=(site,), env=env, check=True)
    predictions = json.loads(out.stdout)
    assert predictions[0]["label"] == 1 and predictions[0]["probability"] > 0.5
    assert predictions[1]["label"] == 0
    # The plugin's own predict option: typed by its default, refused when misspelt.
    strict = (predictions[0]["probability"] + 1.0) / 2
    out = zoo_cli("predict", str(run), "1,0", "--threshold", str(strict), "--json", sites=(site,), env=env, check=True)
    assert json.loads(out.stdout)[0]["label"] == 0
    typo = zoo_cli("predict", str(run), "1,0", "--treshold", "0.9", sites=(site,), env=env)
    assert typo.returncode == 2 and "unknown option --treshold" in typo.stderr and "--threshold" in typo.stderr
    helped = zoo_cli("predict", "hello.xor", "--help", sites=(site,), env=env, check=True)
    assert "--threshold" in helped.stdout and "probability from which the label is 1" in helped.stdout
    checked = zoo_cli("check", "hello", sites=(site,), env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 failed" in checked.stdout
