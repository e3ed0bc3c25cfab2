"""The README's "write your own plugin" files: what ``zoo new-plugin`` writes, built with pip into a wheel,
installed into a fresh virtual environment and used there through the CLI and the package's own tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
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
    """Lay the README's plugin package and its dist-info out in ``site`` as an installer would.

    A quick stand-in for the README command tests; the pip build and install is tested below.
    """
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


def fresh_venv(where: Path) -> Path:
    """A new virtual environment that sees this interpreter's packages (torch, zoo) but not its installs.

    A ``.pth`` file calls ``site.addsitedir`` on every non-standard-library folder of this
    interpreter's path, so ``.pth`` files there are processed too (under nox torch itself
    arrives through one, into ``.nox/_torch``).
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    site = next((where / "lib").glob("python*/site-packages"))
    stdlib = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}
    outer = [p for p in sys.path if p and os.path.isdir(p) and p not in stdlib and "lib-dynload" not in p]
    (site / "zz-outer-packages.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in outer) + "\n", encoding="utf-8"
    )
    return where / "bin" / "python"


def test_new_plugin_is_the_readme_plugin_and_builds_installs_checks_and_tests(zoo_cli: Runner, tmp_path: Path) -> None:
    made = zoo_cli("new-plugin", "hello", "--dir", "zoo-hello", check=True)
    assert "pip install ./zoo-hello && zoo check hello && pytest zoo-hello" in made.stdout
    package = tmp_path / "zoo-hello"
    shown = readme_plugin_files()
    assert set(shown) >= {"pyproject.toml", "src/zoo_hello/plugin.py", "src/zoo_hello/impl.py"}
    for path, body in shown.items():
        assert (package / path).read_text(encoding="utf-8") == body, f"README's {path} is not what new-plugin writes"
    again = zoo_cli("new-plugin", "hello", "--dir", "zoo-hello")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = zoo_cli("new-plugin", "Hello-World")
    assert bad.returncode == 2 and "lower-case letters" in bad.stderr and "Traceback" not in bad.stderr

    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", str(wheels), str(package)], check=True, timeout=300)
    python = fresh_venv(tmp_path / "venv")
    wheel = next(wheels.glob("zoo_hello-*.whl"))
    subprocess.run([*pip, "--python", str(python), "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    installed = subprocess.run(
        [str(python), "-c", "import zoo_hello; print(zoo_hello.__file__)"], capture_output=True, text=True, check=True
    )
    assert str(tmp_path / "venv") in installed.stdout  # the wheel's copy, not the source folder

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(ZOO_LOAD_PLUGINS="hello", ZOO_DATA_DIR=str(tmp_path / "data"))
    env.pop("PYTHONPATH", None)

    def run(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(python), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)

    checked = run("-m", "zoo", "check", "hello")
    assert checked.returncode == 0 and "0 failed" in checked.stdout, checked.stdout + checked.stderr
    tested = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", cwd=package)
    assert tested.returncode == 0 and "1 passed" in tested.stdout, tested.stdout + tested.stderr

    listed = json.loads(run("-m", "zoo", "list", "--json").stdout)
    assert [m["name"] for m in listed] == ["hello.xor"] and listed[0]["plugin"] == "zoo-hello"
    trained = run("-m", "zoo", "train", "hello.xor", "--out", "xor", "--quiet")
    assert trained.returncode == 0, trained.stderr
    last = json.loads((tmp_path / "xor" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["val_accuracy"] == 1.0
    predicted = json.loads(run("-m", "zoo", "predict", "xor/best.safetensors", "1,0", "0,0", "--json").stdout)
    assert predicted[0]["label"] == 1 and predicted[0]["probability"] > 0.5 and predicted[1]["label"] == 0
    # The plugin's own predict option: typed by its default, refused when misspelt.
    strict = str((predicted[0]["probability"] + 1.0) / 2)
    assert (
        json.loads(run("-m", "zoo", "predict", "xor", "1,0", "--threshold", strict, "--json").stdout)[0]["label"] == 0
    )
    typo = run("-m", "zoo", "predict", "xor", "1,0", "--treshold", "0.9")
    assert typo.returncode == 2 and "unknown option --treshold" in typo.stderr and "--threshold" in typo.stderr
