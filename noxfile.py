"""Every way to check zoo: `nox` runs them all, `nox -s NAME` one of them.

torch is by far the largest dependency (several GB), so it is installed once per
machine into a shared folder (.nox/_torch) and each session's fresh venv sees it
through a .pth file. Everything else, zoo packages and torchvision included, is
installed into each session's own venv, so an isolation session holds exactly
zoo-core, one plugin and torch.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES = ROOT / "packages"
CORE = str(PACKAGES / "zoo-core")
PLUGINS = {"tabular": "zoo-tabular", "vision": "zoo-vision", "seq": "zoo-seq"}
TORCH = os.environ.get("ZOO_TORCH_SPEC", "torch==2.14.1")
TORCHVISION = os.environ.get("ZOO_TORCHVISION_SPEC", "torchvision==0.29.1")
SHARED_TORCH = ROOT / ".nox" / "_torch"
# Most tests run the CLI in a subprocess and wait on its torch start-up, so they
# spread well over worker processes (pytest-xdist); a few workers are enough.
WORKERS = str(min(4, os.cpu_count() or 1))
TEST_DRIVER = ("pytest", "pytest-randomly", "pytest-xdist", "hypothesis")

nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "browser",
    "isolated-tabular",
    "isolated-vision",
    "isolated-seq",
    "isolated-timm",
]
nox.options.reuse_existing_virtualenvs = False


def _test_order(session: nox.Session) -> list[str]:
    """A fresh random test order per run, logged so that a failing order can be replayed."""
    seed = os.environ.get("ZOO_TEST_SEED") or str(random.randrange(2**31))
    session.log(f"test order: --randomly-seed={seed} (replay with ZOO_TEST_SEED={seed} nox)")
    return [f"--randomly-seed={seed}"]


def _site_packages(session: nox.Session) -> Path:
    out = session.run("python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", silent=True)
    return Path(str(out).strip().splitlines()[-1])


def _with_torch(session: nox.Session) -> None:
    """Make the shared torch importable (and visible to pip) in this session's venv."""
    marker = SHARED_TORCH / ".complete"
    if not marker.exists():
        session.run(
            "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            str(SHARED_TORCH),
            TORCH,
            external=False,
        )
        marker.write_text(TORCH, encoding="utf-8")
    (_site_packages(session) / "zoo-shared-torch.pth").write_text(str(SHARED_TORCH) + "\n", encoding="utf-8")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over every package and the tests."""
    _with_torch(session)
    session.install(
        "mypy>=1.10",
        "pytest",
        "hypothesis",
        "httpx",
        "selenium",
        TORCHVISION,
        "tritonclient[http]>=2.40",
        f"{CORE}[export,serve,tune,postgres]",
        *(str(PACKAGES / d) for d in PLUGINS.values()),
        str(PACKAGES / "zoo-timm"),
    )
    session.run(
        "mypy",
        "packages/zoo-core/src",
        "packages/zoo-tabular/src",
        "packages/zoo-vision/src",
        "packages/zoo-seq/src",
        "packages/zoo-timm/src",
        "tests",
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Core and the whole together: every plugin installed (and the README's example plugin).

    Each plugin's own tests run in its isolated session, with nothing else installed.
    The order is random on every run; its seed is logged (see ``_test_order``).
    """
    _with_torch(session)
    session.install(
        *TEST_DRIVER,
        "httpx",
        "tritonclient[http]>=2.40",  # a client of the inference protocol that zoo serve speaks
        TORCHVISION,
        f"{CORE}[plots,export,serve,tune,postgres]",
        *(str(PACKAGES / d) for d in PLUGINS.values()),
    )
    args = session.posargs or ["tests", "--ignore", "tests/test_serve_browser.py"]
    session.run(
        "pytest",
        "-q",
        "-n",
        WORKERS,
        "--durations=15",  # the slowest tests, to keep the whole run short
        *_test_order(session),
        *args,
        env={"ZOO_DATA_DIR": str(Path(session.create_tmp()) / "data")},
    )


@nox.session
def fast(session: nox.Session) -> None:
    """The in-process tier: every test that starts no process and is not marked slow.

    Not in the default list: the ``tests`` session runs these too. For a quick loop while
    changing code; a test that starts the CLI, torchrun or a server is skipped there.
    """
    _with_torch(session)
    session.install(
        *TEST_DRIVER,
        "httpx",
        TORCHVISION,
        f"{CORE}[plots,export,serve,tune]",
        *(str(PACKAGES / d) for d in PLUGINS.values()),
    )
    args = session.posargs or ["tests", *(f"packages/{d}/tests" for d in PLUGINS.values())]
    session.run(
        "pytest",
        "-q",
        "-n",
        WORKERS,
        *_test_order(session),
        *args,
        env={"ZOO_TEST_TIER": "fast", "ZOO_DATA_DIR": str(Path(session.create_tmp()) / "data")},
    )


@nox.session
def browser(session: nox.Session) -> None:
    """The page of zoo serve in headless Chromium (Debian's chromium and chromium-driver)."""
    if not Path("/usr/bin/chromium").exists() or not Path("/usr/bin/chromedriver").exists():
        session.error("needs /usr/bin/chromium and /usr/bin/chromedriver: apt-get install chromium chromium-driver")
    _with_torch(session)
    session.install(
        "pytest", "selenium>=4.10", TORCHVISION, f"{CORE}[serve]", *(str(PACKAGES / d) for d in PLUGINS.values())
    )
    session.run(
        "pytest", "-q", "tests/test_serve_browser.py", env={"ZOO_DATA_DIR": str(Path(session.create_tmp()) / "data")}
    )


def _isolated(session: nox.Session, namespace: str) -> None:
    dist = PLUGINS[namespace]
    _with_torch(session)
    session.install(*TEST_DRIVER, CORE, str(PACKAGES / dist))
    others = [d for d in PLUGINS.values() if d != dist] + (["torchvision"] if dist != "zoo-vision" else [])
    session.run(
        "python",
        "-c",
        "import importlib.metadata as m, sys\n"
        f"present = [d for d in {others!r} if any(True for _ in m.distributions(name=d))]\n"
        "sys.exit(f'not isolated, also installed: {present}' if present else 0)",
    )
    session.run(
        "pytest",
        "-q",
        "-n",
        WORKERS,
        *_test_order(session),
        f"packages/{dist}/tests",
        env={"ZOO_DATA_DIR": str(Path(session.create_tmp()) / "d")},
    )


@nox.session(name="isolated-tabular")
def isolated_tabular(session: nox.Session) -> None:
    """zoo-core + zoo-tabular alone."""
    _isolated(session, "tabular")


@nox.session(name="isolated-vision")
def isolated_vision(session: nox.Session) -> None:
    """zoo-core + zoo-vision alone."""
    _isolated(session, "vision")


@nox.session(name="isolated-seq")
def isolated_seq(session: nox.Session) -> None:
    """zoo-core + zoo-seq alone: no torchvision anywhere."""
    _isolated(session, "seq")


@nox.session(name="isolated-timm")
def isolated_timm(session: nox.Session) -> None:
    """zoo-core + zoo-vision (whose bounded picture reader it uses) + zoo-timm, with timm."""
    _with_torch(session)
    session.install(*TEST_DRIVER, TORCHVISION, CORE, str(PACKAGES / "zoo-vision"), str(PACKAGES / "zoo-timm"))
    session.run(
        "pytest",
        "-q",
        "-n",
        WORKERS,
        *_test_order(session),
        "packages/zoo-timm/tests",
        env={"ZOO_DATA_DIR": str(Path(session.create_tmp()) / "d")},
    )
