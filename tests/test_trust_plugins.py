"""Plugin quarantine: a plugin that exits, interrupts, collides or lies is marked broken alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from zoo_testkit import Runner, write_plugin

EXITS = """
raise SystemExit(3)
"""
INTERRUPTS = """
raise KeyboardInterrupt
"""
SAME_DATASET = """
from zoo import DatasetSpec, hookimpl

@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("blobs", "another blobs", "toyplug.impl:load_blobs"))
"""
CPU_DEVICE = """
from zoo import hookimpl

@hookimpl
def zoo_register_devices(register):
    from zoo.backend import CpuBackend
    register(CpuBackend())
"""
BAD_BUILDER = """
from zoo import ModelSpec, Recipe, hookimpl

@hookimpl
def zoo_register_models(register):
    register(ModelSpec("net", "a model with a bogus builder", "regression", "not a ref", "toy.points",
                       recipes=(Recipe("default", "one epoch", {"epochs": 1}),)))
"""


def add(site: Path, name: str, code: str) -> None:
    write_plugin(site, f"{name}-plugin", name, {"__init__.py": code}, {name: name})


@pytest.mark.parametrize(("code", "why"), [(EXITS, "SystemExit"), (INTERRUPTS, "KeyboardInterrupt")])
def test_plugin_that_exits_or_interrupts_at_import_is_broken(toy_site: Path, zoo_cli: Runner, code, why):
    add(toy_site, "bad", code)
    env = {"ZOO_LOAD_PLUGINS": "toy,bad"}
    listed = zoo_cli("list", sites=(toy_site,), env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "toy.mlp" in listed.stdout and "bad" in listed.stderr
    plugins = zoo_cli("plugins", sites=(toy_site,), env=env)
    assert plugins.returncode == 0 and "broken" in plugins.stdout and why in plugins.stdout
    assert "Traceback" not in listed.stderr + plugins.stderr


def test_two_distributions_with_one_dataset_name_use_neither(toy_site: Path, zoo_cli: Runner):
    write_plugin(toy_site, "toy-clash", "toyclash", {"__init__.py": SAME_DATASET}, {"toy": "toyclash"})
    proc = zoo_cli("info", "toy.line", sites=(toy_site,))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "toy-plugin" in proc.stderr and "toy-clash" in proc.stderr and "toy.blobs" in proc.stderr
    train = zoo_cli("train", "toy.mlp", "--epochs", "1", "--out", "r", sites=(toy_site,))
    assert train.returncode == 2 and "toy-plugin" in train.stderr and "toy-clash" in train.stderr
    assert "Traceback" not in train.stderr
    ok = zoo_cli("train", "toy.line", "--epochs", "1", "--out", "r2", "--quiet", sites=(toy_site,))
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_plugin_registering_cpu_is_the_broken_one(toy_site: Path, zoo_cli: Runner):
    add(toy_site, "cpuhijack", CPU_DEVICE)
    env = {"ZOO_LOAD_PLUGINS": "toy,cpuhijack"}
    plugins = zoo_cli("plugins", sites=(toy_site,), env=env)
    line = next(ln for ln in plugins.stdout.splitlines() if "cpuhijack" in ln)
    assert "broken" in line
    devices = zoo_cli("devices", sites=(toy_site,), env=env)
    assert devices.returncode == 0, devices.stdout + devices.stderr
    for name in ("cpu", "cuda", "mps", "npu"):
        assert name in devices.stdout


def test_bogus_builder_string_breaks_the_plugin_at_registration(toy_site: Path, zoo_cli: Runner):
    add(toy_site, "bogus", BAD_BUILDER)
    env = {"ZOO_LOAD_PLUGINS": "toy,bogus"}
    plugins = zoo_cli("plugins", sites=(toy_site,), env=env)
    line = next(ln for ln in plugins.stdout.splitlines() if "bogus" in ln)
    assert "broken" in line and "not a ref" in plugins.stdout
    for args in (("info", "bogus.net"), ("train", "bogus.net", "--epochs", "1")):
        proc = zoo_cli(*args, sites=(toy_site,), env=env)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert zoo_cli("info", "toy.line", sites=(toy_site,), env=env).returncode == 0


NOISY = """
import os, sys
from zoo import hookimpl

print("noisy import says hello")
sys.stdout.flush()
os.write(1, b"noisy import writes to descriptor 1\\n")

@hookimpl
def zoo_register_models(register):
    print("noisy hook says hello")
"""


def test_plugin_output_goes_to_stderr_and_json_stays_json(toy_site_module: Path, trained: Path, zoo_cli, tmp_path):
    site = tmp_path / "noisy-site"
    add(site, "noisy", NOISY)
    sites, env = (toy_site_module, site), {"ZOO_LOAD_PLUGINS": "toy,noisy"}
    parsed = []
    for args in (("list", "--json"), ("weights", "--json"), ("predict", str(trained), "0,1", "--json")):
        proc = zoo_cli(*args, sites=sites, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        parsed.append(json.loads(proc.stdout))
        for said in ("noisy import says hello", "noisy import writes to descriptor 1", "noisy hook says hello"):
            assert said in proc.stderr, (args, proc.stderr)
    assert [m["name"] for m in parsed[0]] == ["toy.line", "toy.mlp"] and parsed[1] == []
    assert len(parsed[2]) == 1 and parsed[2][0]["input"] == "0,1"


SLEEPY = """
import time
from zoo import hookimpl

time.sleep(0.8)

@hookimpl
def zoo_register_models(register):
    time.sleep(0.8)
"""


def test_slow_import_and_slow_hook_are_named(toy_site: Path, zoo_cli: Runner):
    add(toy_site, "sleepy", SLEEPY)
    env = {"ZOO_LOAD_PLUGINS": "toy,sleepy", "ZOO_SLOW_PLUGIN_SECONDS": "0.2"}
    proc = zoo_cli("list", sites=(toy_site,), env=env)
    assert proc.returncode == 0 and "toy.mlp" in proc.stdout, proc.stdout + proc.stderr
    for what in ("import", "zoo_register_models"):
        assert f"plugin 'sleepy' (sleepy-plugin): {what} has taken 0.2 s" in proc.stderr, proc.stderr
    assert "ZOO_LOAD_PLUGINS" in proc.stderr
    quiet = zoo_cli("list", sites=(toy_site,), env={"ZOO_LOAD_PLUGINS": "toy,sleepy"})
    assert quiet.returncode == 0 and "has taken" not in quiet.stderr, quiet.stderr


QUITS_AT_IMPORT = """
import os
os._exit(0)
"""
QUITS_IN_HOOK = """
import posix
from zoo import hookimpl

@hookimpl
def zoo_register_datasets(register):
    posix._exit(0)
"""


def test_plugin_calling_os_exit_is_broken_and_zoo_goes_on(toy_site: Path, zoo_cli: Runner, tmp_path: Path):
    add(toy_site, "quitter", QUITS_AT_IMPORT)
    add(toy_site, "hookquit", QUITS_IN_HOOK)
    env = {"ZOO_LOAD_PLUGINS": "toy,quitter,hookquit"}
    train = zoo_cli("train", "toy.line", "--epochs", "1", "--out", "r", "--quiet", sites=(toy_site,), env=env)
    assert train.returncode == 0, train.stdout + train.stderr
    assert (tmp_path / "r" / "last.safetensors").is_file()
    plugins = {p["name"]: p for p in json.loads(zoo_cli("plugins", "--json", sites=(toy_site,), env=env).stdout)}
    assert plugins["toy"]["status"] == "ok"
    for name in ("quitter", "hookquit"):
        assert plugins[name]["status"] == "broken" and "called os._exit(0) while loading" in plugins[name]["error"]
    assert "__init__.py:3" in plugins["quitter"]["error"]


HOOK = "from zoo import hookimpl\n\n@hookimpl\ndef zoo_register_{}(register):\n    raise {}\n"
BASE_EXCEPTIONS = {
    "genexit": "raise GeneratorExit",
    "custom": "class Stop(BaseException):\n    pass\n\nraise Stop('custom stop')",
    "hookint": HOOK.format("models", "KeyboardInterrupt"),
    "hookbase": HOOK.format("models", "BaseException('x')"),
    "hookgen": HOOK.format("devices", "GeneratorExit"),
}


def test_base_exceptions_from_plugins_are_quarantined(toy_site: Path, tmp_path: Path):
    for name, code in BASE_EXCEPTIONS.items():
        add(toy_site, name, code + "\n")
    add(toy_site, "quitter", QUITS_AT_IMPORT)
    code = (
        "import json, os, posix\nreal = os._exit, posix._exit\n"
        "from zoo.plugins.registry import get_registry\nregistry = get_registry()\n"
        "assert (os._exit, posix._exit) == real, 'os._exit was not restored'\n"
        "print(json.dumps({p.name: [p.status, p.error] for p in registry.plugins}))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(toy_site),
        "ZOO_LOAD_PLUGINS": ",".join(["toy", "quitter", *BASE_EXCEPTIONS]),
    }
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = json.loads(proc.stdout)
    assert status["toy"] == ["ok", None] and status["quitter"][0] == "broken"
    for name, why in (("genexit", "GeneratorExit"), ("custom", "Stop: custom stop"), ("hookint", "KeyboardInterrupt"),
                      ("hookbase", "BaseException: x"), ("hookgen", "GeneratorExit")):  # fmt: skip
        assert status[name][0] == "broken" and why in status[name][1], (name, status[name])


def test_dataset_claimed_twice_is_named_on_both_plugins(toy_site: Path, zoo_cli: Runner):
    write_plugin(toy_site, "toy-clash", "toyclash", {"__init__.py": SAME_DATASET}, {"toy": "toyclash"})
    plugins = json.loads(zoo_cli("plugins", "--json", sites=(toy_site,), check=True).stdout)
    claims = {p["distribution"]: p["conflicts"] for p in plugins}
    assert claims == {"toy-plugin": ["dataset toy.blobs"], "toy-clash": ["dataset toy.blobs"]}
