"""Every `zoo ...` command the READMEs show runs as written.

The commands are read from README.md and each plugin's README: lines of code blocks and
inline code that start with ``zoo``. Each README's commands run in order, through bash
(so globs and comments act as in a terminal), in a scratch folder laid out like the
repository, with a small MNIST as the data folder and the README's example plugin
installed. A command followed in its block by an ``error:`` line must fail with exit 2
and print those lines; other output lines shown under a command must appear in what it
prints. What cannot run here is listed in ``NOT_RUN`` with the reason, and every entry
there must still be in a README, so the list cannot go stale.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_readme import install_readme_plugin

ROOT = Path(__file__).resolve().parents[1]
READMES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "packages").glob("*/README.md"))]

#: Commands a README shows that this test does not run, and why.
NOT_RUN = {
    "zoo serve vision.cnn": "a server that runs until stopped: tests/test_serve.py drives it",
    "zoo serve vision.cnn runs/tabular.diabetes/latest": "a server that runs until stopped",
    "zoo serve mine=runs/tabular.diabetes/latest": "a server that runs until stopped",
    "zoo train vision.cnn --recipe seed --device cuda": "needs a GPU",
    "zoo --install-completion": "edits the user's shell start-up files",
    "zoo --strict-plugins …": "a form, not a command",
    "zoo bench --json": "a reference to the output of `zoo bench`, which trains every model for minutes",
    "zoo predict --json": "a reference to the output of `zoo predict`",
}
#: Words that mark a synopsis (a form to fill in), not a command to run.
PLACEHOLDER = re.compile(r"\[|…|\\\||<[a-z-]+>|\b(?:[A-Z][A-Z0-9_]+|S)\b")
#: `zoo CMD` alone, in prose, names the command; only those that need no argument are run.
BARE_RUNNABLE = {"list", "weights", "plugins", "devices", "--version"}


@dataclass
class Command:
    text: str
    shown: list[str] = field(default_factory=list)  # output lines printed under it in its block


def _blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """Fenced code blocks: (offset, language, lines)."""
    blocks: list[tuple[int, str, list[str]]] = []
    lang: str | None = None
    lines: list[str] = []
    start = offset = 0
    for line in text.splitlines(keepends=True):
        fence = line.strip().startswith("```")
        if fence and lang is None:
            lang, lines, start = line.strip()[3:].strip(), [], offset
        elif fence and lang is not None:
            blocks.append((start, lang, lines))
            lang = None
        elif lang is not None:
            lines.append(line.rstrip("\n"))
        offset += len(line)
    return blocks


def readme_commands(name: str) -> list[Command]:
    """The commands of one README in the order they appear, with the output shown under each."""
    text = (ROOT / name).read_text(encoding="utf-8")
    found: list[tuple[int, Command]] = []
    for start, lang, lines in _blocks(text):
        if lang not in ("", "bash", "sh", "console"):
            continue
        current: Command | None = None
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("zoo "):
                current = Command(stripped)
                found.append((start, current))
            elif current is not None and stripped and not stripped.startswith(("pip ", "python", "torchrun")):
                current.shown.append(stripped.removeprefix("# ") if stripped != "#" else "")
            else:
                current = None
            # the quick start chains its commands with && after installing
            for chained in re.findall(r"&& (zoo [^&]+)", line):
                found.append((start, Command(chained.strip())))
    inline = re.sub(r"```.*?```", lambda m: " " * len(m.group(0)), text, flags=re.S)
    for span in re.finditer(r"`(zoo [^`\n]+)`", inline):
        found.append((span.start(), Command(span.group(1))))
    return [command for _, command in sorted(found, key=lambda item: item[0])]


def runnable(command: Command) -> bool:
    words = command.text.split()
    if command.text in NOT_RUN or PLACEHOLDER.search(command.text.split("#")[0]):
        return False
    return len(words) > 2 or (len(words) == 2 and words[1] in BARE_RUNNABLE)


def test_every_exemption_is_still_shown_somewhere() -> None:
    shown = {c.text for name in READMES for c in readme_commands(name)}
    assert set(NOT_RUN) <= shown, set(NOT_RUN) - shown


def _tiny_mnist(folder: Path) -> None:
    """A small learnable MNIST in torchvision's layout (the distributed tests' generator)."""
    from test_distributed import _write_idx

    _write_idx(folder, 600, 0)
    _write_idx(folder, 100, 1)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A folder laid out like the repository (and the vision package), plus the environment to run in."""
    import zoo_vision

    base = tmp_path_factory.mktemp("readme")
    _tiny_mnist(base / "data")
    site = base / "site"
    install_readme_plugin(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_") or k == "ZOO_NO_PLOTS"}
    env.update(
        ZOO_DATA_DIR=str(base / "data"),
        ZOO_OFFLINE="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    env["ZOO_PACKAGE"] = str(Path(zoo_vision.__file__).parent)
    return base, env


def _workdir(base: Path, name: str, env: dict[str, str]) -> Path:
    work = base / name.replace("/", "_")
    work.mkdir()
    (work / "packages").symlink_to(ROOT / "packages")  # commands shown from the repository root
    (work / "zoo_vision").symlink_to(env["ZOO_PACKAGE"])  # and from the vision package's folder
    examples = ROOT / "packages" / "zoo-vision" / "src" / "zoo_vision" / "examples"
    shutil.copy(examples / "digit-7.png", work / "my-digit.png")
    shutil.copy(examples / "digit-7.png", work / "digit.png")
    (work / "fox.txt").write_text("the quick brown fox jumps over the lazy dog.\n" * 30, encoding="utf-8")
    (work / "inputs.txt").write_text("hello\nlohel\n", encoding="utf-8")
    return work


def _shows(line: str, printed: str) -> bool:
    """Whether output shown in a README appears in what was printed.

    White space is not significant, a leading ``...`` stands for the start of the line
    and ``<time>``-style placeholders for any word.
    """
    words = [re.escape(w) for w in line.removeprefix("...").split()]
    pattern = r"\s+".join(re.sub(r"<[a-z-]+>", r"\\S+", w.replace("\\<", "<").replace("\\>", ">")) for w in words)
    return re.search(pattern, printed) is not None


@pytest.mark.parametrize("name", READMES)
def test_readme_commands_run_as_written(name: str, scratch: tuple[Path, dict[str, str]]) -> None:
    base, env = scratch
    dist = Path(name).parent.name
    if dist and not any(True for _ in importlib.metadata.distributions(name=dist)):
        pytest.skip(f"{dist} is not installed here (its own session runs its README)")
    work = _workdir(base, name, env)
    commands, seen = [], set()
    for command in readme_commands(name):
        if runnable(command) and command.text not in seen:  # a command shown twice runs once
            commands.append(command)
            seen.add(command.text)
    if not commands:
        pytest.skip(f"{name} shows no command to run")
    failures = []
    for command in commands:
        result = subprocess.run(
            ["bash", "-c", command.text], cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        expects_error = bool(command.shown) and command.shown[0].startswith("error:")
        printed = result.stderr if expects_error else result.stdout
        problem = None
        if expects_error and result.returncode != 2:
            problem = f"exit {result.returncode}, the README shows an error (exit 2)"
        elif not expects_error and result.returncode != 0:
            problem = f"exit {result.returncode}"
        else:
            for line in command.shown:
                if line in ("", "...") or _shows(line, printed):
                    continue
                problem = f"does not print {line!r}"
                break
        if problem:
            failures.append(f"{command.text}: {problem}\n{result.stdout[-1500:]}{result.stderr[-1500:]}")
    assert not failures, "\n\n".join(failures)
