"""The plugin registry through the installed CLI: discovery, isolation of failures, listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from zoo_testkit import Runner, write_plugin

from zoo.plugins.registry import FIRST_PARTY


def test_empty_install_lists_nothing_and_has_cpu(zoo_cli: Runner) -> None:
    result = zoo_cli("list", env={"ZOO_LOAD_PLUGINS": ""}, check=True)
    assert "model" in result.stdout and "no models installed" in result.stderr
    devices = json.loads(zoo_cli("devices", "--json", check=True).stdout)
    cpu = next(d for d in devices if d["name"] == "cpu")
    assert cpu["available"] and cpu["distributed"] == "gloo"
    names = {d["name"] for d in devices}
    assert {"cpu", "cuda", "mps", "npu"} <= names
    for d in devices:
        if not d["available"]:
            assert d["reason"], d


def test_version_and_help(zoo_cli: Runner) -> None:
    assert zoo_cli("--version", check=True).stdout.startswith("zoo ")
    for command in ("list", "info", "plugins", "devices", "train", "eval", "predict", "plot", "runs"):
        result = zoo_cli(command, "--help", check=True)
        assert "Usage" in result.stdout, command


def test_plugin_models_appear_and_filter(zoo_cli: Runner, toy_site: Path) -> None:
    listed = json.loads(zoo_cli("list", "--json", sites=(toy_site,), check=True).stdout)
    assert [m["name"] for m in listed] == ["toy.line", "toy.mlp"]
    assert listed[0]["plugin"] == "toy-plugin" and listed[0]["task"] == "regression"
    only = json.loads(zoo_cli("list", "toy.m*", "--json", sites=(toy_site,), check=True).stdout)
    assert [m["name"] for m in only] == ["toy.mlp"]
    by_task = json.loads(zoo_cli("list", "--task", "regression", "--json", sites=(toy_site,), check=True).stdout)
    assert [m["name"] for m in by_task] == ["toy.line"]
    assert json.loads(zoo_cli("list", "--plugin", "nope", "--json", sites=(toy_site,), check=True).stdout) == []
    table = zoo_cli("list", sites=(toy_site,), check=True).stdout
    assert "toy.line" in table and "y = w.x + b" in table
    bad_task = zoo_cli("list", "--task", "poetry", sites=(toy_site,))
    assert bad_task.returncode == 2 and "unknown task" in bad_task.stderr


def test_info_describes_model(zoo_cli: Runner, toy_site: Path) -> None:
    info = json.loads(zoo_cli("info", "toy.mlp", "--json", sites=(toy_site,), check=True).stdout)
    assert info["parameters"] == 2 * 8 + 8 + 8 * 3 + 3
    assert info["task"] == "multiclass" and info["plugin"] == "toy-plugin 0.1.0"
    assert info["recipes"][0]["hparams"]["momentum"] == 0.9


def test_unknown_model_suggests_and_exits_2(zoo_cli: Runner, toy_site: Path) -> None:
    result = zoo_cli("info", "toy.lin", sites=(toy_site,))
    assert result.returncode == 2
    assert "did you mean 'toy.line'" in result.stderr
    assert "Traceback" not in result.stderr
    result = zoo_cli("train", "mlp", sites=(toy_site,))
    assert result.returncode == 2 and "toy.mlp" in result.stderr


def test_listing_never_imports_torch(toy_site: Path, tmp_path: Path) -> None:
    code = (
        "import sys\nfrom zoo.cli import main\n"
        "for argv in (['zoo', 'list'], ['zoo', 'plugins'], ['zoo', 'list', '--json']):\n"
        "    sys.argv = argv\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    env = {"PYTHONPATH": str(toy_site), "ZOO_LOAD_PLUGINS": "toy", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "toy.line" in result.stdout
    assert "TORCH False" in result.stdout, result.stdout + result.stderr


REAL_PLUGINS = {dist: namespace for namespace, dist in FIRST_PARTY.items()}


def _installed(dist: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_listing_the_real_plugins_never_imports_torch(tmp_path: Path) -> None:
    missing = [d for d in REAL_PLUGINS if not _installed(d)]
    if missing:
        pytest.skip(f"needs all three plugins; not installed here: {', '.join(missing)}")
    code = (
        "import sys\nfrom zoo.cli import main\n"
        "for argv in (['zoo', 'list'], ['zoo', 'list', '--json'], ['zoo', 'plugins'], ['zoo', 'plugins', '--json']):\n"
        "    sys.argv = argv\n"
        "    try:\n        main()\n    except SystemExit as exc:\n        assert not exc.code, exc.code\n"
        "print('TORCH', 'torch' in sys.modules, 'torchvision' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env["ZOO_STRICT_PLUGINS"] = "1"  # every plugin must load
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("tabular.diabetes", "vision.cnn", "seq.embedding", "zoo-tabular", "zoo-vision", "zoo-seq"):
        assert name in result.stdout, name
    assert "TORCH False False" in result.stdout, result.stdout + result.stderr


def _broken_sites(tmp_path: Path, toy_site: Path) -> tuple[Path, ...]:
    site = tmp_path / "broken-site"
    write_plugin(
        site,
        "import-broken",
        "importbroken",
        {"__init__.py": "import no_such_module_here\n"},
        {"ibroken": "importbroken"},
        version="1.2.3",
    )
    write_plugin(
        site,
        "register-broken",
        "registerbroken",
        {
            "__init__.py": "from zoo import hookimpl\n\n@hookimpl\ndef zoo_register_models(register):\n"
            "    raise RuntimeError('cannot find my weights')\n"
        },
        {"rbroken": "registerbroken"},
    )
    write_plugin(
        site,
        "signature-broken",
        "sigbroken",
        {"__init__.py": "from zoo import hookimpl\n\n@hookimpl\ndef zoo_register_models(register, extra):\n    pass\n"},
        {"sbroken": "sigbroken"},
    )
    return (toy_site, site)


def test_broken_plugins_are_reported_and_skipped(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    sites = _broken_sites(tmp_path, toy_site)
    env = {"ZOO_LOAD_PLUGINS": "toy,ibroken,rbroken,sbroken"}
    listed = zoo_cli("list", sites=sites, env=env)
    assert listed.returncode == 0
    assert "toy.line" in listed.stdout
    assert "import-broken 1.2.3" in listed.stderr and "No module named 'no_such_module_here'" in listed.stderr
    assert "register-broken" in listed.stderr and "cannot find my weights" in listed.stderr
    assert "sbroken" in listed.stderr and "extra" in listed.stderr
    plugins = json.loads(zoo_cli("plugins", "--json", sites=sites, env=env, check=True).stdout)
    status = {p["name"]: p for p in plugins}
    assert status["toy"]["status"] == "ok" and status["toy"]["models"] == ["toy.line", "toy.mlp"]
    for name in ("ibroken", "rbroken", "sbroken"):
        assert status[name]["status"] == "broken" and status[name]["error"]
    strict = zoo_cli("--strict-plugins", "list", sites=sites, env=env)
    assert strict.returncode != 0 and "strict" in strict.stderr and "Traceback" not in strict.stderr
    strict_env = zoo_cli("list", sites=sites, env={**env, "ZOO_STRICT_PLUGINS": "1"})
    assert strict_env.returncode != 0


def test_load_plugins_limits_what_loads(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    sites = _broken_sites(tmp_path, toy_site)
    result = zoo_cli("list", "--json", sites=sites, env={"ZOO_LOAD_PLUGINS": "toy"}, check=True)
    assert result.stderr == ""
    none = zoo_cli("list", "--json", sites=sites, env={"ZOO_LOAD_PLUGINS": ""}, check=True)
    assert json.loads(none.stdout) == []


def test_same_model_from_two_distributions_is_a_conflict(zoo_cli: Runner, toy_site: Path, tmp_path: Path) -> None:
    site = tmp_path / "dup"
    code = (
        "from zoo import ModelSpec, Recipe, hookimpl\n\n@hookimpl\ndef zoo_register_models(register):\n"
        "    register(ModelSpec('line', 'impostor', 'regression', 'toyplug.impl:build_line', 'toy.points',"
        " recipes=(Recipe('default', 'r'),)))\n"
        "    register(ModelSpec('solo', 'fine', 'regression', 'toyplug.impl:build_line', 'toy.points',"
        " recipes=(Recipe('default', 'r'),)))\n"
    )
    write_plugin(site, "dup-plugin", "dupplug", {"__init__.py": code}, {"toy": "dupplug"})
    listed = zoo_cli("list", "--json", sites=(toy_site, site), check=True)
    assert [m["name"] for m in json.loads(listed.stdout)] == ["toy.mlp", "toy.solo"]
    assert "'toy.line' is registered by both" in listed.stderr
    assert "toy-plugin" in listed.stderr and "dup-plugin" in listed.stderr
    info = zoo_cli("info", "toy.line", sites=(toy_site, site))
    assert info.returncode == 2 and "dup-plugin" in info.stderr and "toy-plugin" in info.stderr
