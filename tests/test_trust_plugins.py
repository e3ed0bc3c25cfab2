"""Plugin quarantine: a plugin that exits, interrupts, collides or lies is marked broken alone."""

from __future__ import annotations

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
