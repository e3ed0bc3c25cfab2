"""Fixtures for core tests: the toy plugin on a site folder, and the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from zoo_testkit import TOY_IMPL, TOY_PLUGIN, Runner, write_plugin

# Training in tests draws no curves.png (a matplotlib start-up per run); the tests
# about plots ask for them. Environments built for subprocesses keep this variable.
os.environ["ZOO_NO_PLOTS"] = "1"


@pytest.fixture
def toy_site(tmp_path: Path) -> Path:
    """A site folder holding the toy plugin distribution."""
    site = tmp_path / "site"
    write_plugin(site, "toy-plugin", "toyplug", {"__init__.py": TOY_PLUGIN, "impl.py": TOY_IMPL}, {"toy": "toyplug"})
    return site


@pytest.fixture
def zoo_cli(tmp_path: Path) -> Runner:
    """Run ``python -m zoo ARGS`` in a subprocess; ``site`` folders go on PYTHONPATH."""

    def run(
        *args: str,
        sites: tuple[Path, ...] = (),
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        check: bool | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
        full_env["ZOO_LOAD_PLUGINS"] = "toy"
        full_env["ZOO_DATA_DIR"] = str(tmp_path / "data")
        if sites:
            full_env["PYTHONPATH"] = os.pathsep.join(str(s) for s in sites)
        full_env.update(env or {})
        result = subprocess.run(
            [sys.executable, "-m", "zoo", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd or tmp_path,
            timeout=300,
        )
        if check is True:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    return run


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, toy_site_module: Path) -> Path:
    """A finished 2-epoch toy.mlp run folder, shared by the tests that only read it."""
    run = tmp_path_factory.mktemp("run") / "mlp"
    env = {**os.environ, "PYTHONPATH": str(toy_site_module), "ZOO_LOAD_PLUGINS": "toy"}
    env.pop("ZOO_NO_PLOTS")  # this run draws curves.png, as training does by default
    subprocess.run(
        [sys.executable, "-m", "zoo", "train", "toy.mlp", "--out", str(run), "--epochs", "2", "--quiet"],
        check=True,
        env=env,
        capture_output=True,
    )
    return run


@pytest.fixture(scope="session")
def toy_site_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy plugin on a site folder that lives for the whole test run."""
    site = tmp_path_factory.mktemp("site")
    write_plugin(site, "toy-plugin", "toyplug", {"__init__.py": TOY_PLUGIN, "impl.py": TOY_IMPL}, {"toy": "toyplug"})
    return site
