"""A plugin that is just a module (``zoo --plugin``, ``ZOO_PLUGINS``) and ``@zoo.register_model``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from zoo_testkit import Runner

import zoo

GOOD = '''
"""Hooks and a decorated builder in one importable module."""
import torch
from torch import nn

import zoo
from zoo import DatasetSpec, hookimpl
from zoo.contracts.data import DataBundle, TensorSplit


def load_points(request):
    x = torch.linspace(-1, 1, 32).reshape(-1, 1)
    return DataBundle(train=TensorSplit(x, 3 * x + 1), meta={"features": 1}, description="32 points on a line")


@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("points", "32 points on y = 3x + 1", "goodmod:load_points"))


@zoo.register_model("line", task="regression", dataset="goodmod.points", recipe={"epochs": 40, "lr": 0.1})
def make_line(bias: bool = True) -> nn.Module:
    """y = w x + b."""
    return nn.Linear(1, 1, bias=bias)
'''


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    site = tmp_path / "mods"
    site.mkdir()
    (site / "goodmod.py").write_text(GOOD, encoding="utf-8")
    (site / "brokenmod.py").write_text('raise RuntimeError("boom")\n', encoding="utf-8")
    (site / "badhook.py").write_text(
        "from zoo import hookimpl\n\n@hookimpl\ndef zoo_register_models(register):\n    register(42)\n",
        encoding="utf-8",
    )
    return site


def test_plugin_option_loads_modules_and_reports_broken_and_missing_ones(zoo_cli: Runner, modules: Path) -> None:
    args = ["--plugin", "goodmod", "--plugin", "brokenmod", "--plugin", "nosuchmod", "--plugin", "badhook"]
    listed = zoo_cli(*args, "list", "--json", sites=(modules,), env={"ZOO_LOAD_PLUGINS": ""})
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    models = json.loads(listed.stdout)
    assert [(m["name"], m["plugin"]) for m in models] == [("goodmod.line", "goodmod")]
    assert "plugin 'brokenmod' (brokenmod module) was skipped: import failed: RuntimeError: boom" in listed.stderr
    assert "no module named 'nosuchmod' can be imported" in listed.stderr
    assert "expects a ModelSpec, got int" in listed.stderr
    status = json.loads(zoo_cli(*args, "plugins", "--json", sites=(modules,), env={"ZOO_LOAD_PLUGINS": ""}).stdout)
    by_name = {p["name"]: p for p in status}
    assert by_name["goodmod"]["status"] == "ok" and by_name["goodmod"]["models"] == ["goodmod.line"]
    assert by_name["goodmod"]["datasets"] == ["goodmod.points"]
    assert {by_name[n]["status"] for n in ("brokenmod", "nosuchmod", "badhook")} == {"broken"}


def test_zoo_plugins_variable_loads_the_same_and_the_model_trains_and_predicts(
    zoo_cli: Runner, modules: Path, tmp_path: Path
) -> None:
    env = {"ZOO_PLUGINS": "goodmod,nosuchmod", "ZOO_LOAD_PLUGINS": ""}
    trained = zoo_cli("train", "goodmod.line", "--out", "line", "--quiet", sites=(modules,), env=env)
    assert trained.returncode == 0, trained.stderr
    assert "no module named 'nosuchmod'" in trained.stderr
    config = json.loads((tmp_path / "line" / "config.json").read_text())
    assert config["hparams"]["epochs"] == 40 and config["config"] == {"bias": True}
    predicted = zoo_cli("predict", "line", "2", "--json", sites=(modules,), env=env, check=True)
    assert abs(json.loads(predicted.stdout)[0]["output"] - 7.0) < 0.5
    strict = zoo_cli("--strict-plugins", "list", sites=(modules,), env=env)
    assert strict.returncode != 0 and "nosuchmod" in strict.stderr


def test_register_model_in_a_script_trains_with_zoo_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torch import nn

    monkeypatch.chdir(tmp_path)

    @zoo.register_model("line", task="regression", dataset="tabular.linear")
    def make(bias: bool = False) -> nn.Module:
        """y = w x."""
        return nn.Linear(1, 1, bias=bias)

    spec = zoo.get_spec("local.line")
    assert spec.config == {"bias": False} and spec.summary == "y = w x." and spec.distribution == "local"
    make = zoo.register_model("line", task="regression", dataset="tabular.linear")(make)  # again: replaced
    assert [s.full_name for s in zoo.list_models("local.*")] == ["local.line"]
    run = zoo.train("local.line", epochs=30, lr=0.05, out="line", quiet=True)
    assert run.history[-1]["val_mse"] < run.history[0]["val_mse"]
    with pytest.raises(ValueError, match="task 'classify' is not one of"):
        zoo.register_model("other", task="classify", dataset="tabular.linear")(make)


def test_a_decorated_name_outside_the_module_namespace_marks_that_plugin_broken(
    zoo_cli: Runner, tmp_path: Path
) -> None:
    site = tmp_path / "mods"
    site.mkdir()
    (site / "strays.py").write_text(
        textwrap.dedent(
            """
            import zoo

            @zoo.register_model("elsewhere.net", task="regression", dataset="tabular.linear")
            def make():
                raise AssertionError("never built")
            """
        ),
        encoding="utf-8",
    )
    listed = zoo_cli("--plugin", "strays", "list", sites=(site,), env={"ZOO_LOAD_PLUGINS": ""})
    assert listed.returncode == 0
    assert "outside this module's namespace 'strays'" in listed.stderr


def test_the_readme_decorator_is_a_module_plugin_and_a_script_model(zoo_cli: Runner, tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    code = next(b.split("```", 1)[0] for b in readme.split("```python\n")[1:] if "@zoo.register_model" in b)
    package = tmp_path / "site" / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "nets.py").write_text(code, encoding="utf-8")
    listed = zoo_cli(
        "--plugin", "mypkg.nets", "list", "--json", sites=(tmp_path / "site",), env={"ZOO_LOAD_PLUGINS": ""}
    )
    assert [m["name"] for m in json.loads(listed.stdout)] == ["nets.mlp"], listed.stderr
    script = tmp_path / "script.py"
    script.write_text(code + "\nprint(zoo.get_spec('local.mlp').config)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "{'hidden': 64}", done.stderr
