"""Every ``zoo`` command in this README's code blocks runs as written, in order."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import run_zoo

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[tuple[str, list[str]]]:
    """(command, lines shown under it) for each ``zoo ...`` line of the fenced bash blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if line.startswith("zoo "):
                found.append((line, []))
            elif line.strip() and found and not line.startswith(("pip ", "python", "ZOO_")):
                found[-1][1].append(line.strip())
    return found


def test_readme_commands_run_as_written(tmp_path: Path) -> None:
    (tmp_path / "packages").symlink_to(ROOT.parent)
    commands = readme_commands()
    assert len(commands) >= 6
    for command, shown in commands:
        done = run_zoo(*command.split()[1:], cwd=tmp_path, check=False, env={"ZOO_OFFLINE": "1"})
        wants_error = bool(shown) and shown[0].startswith("error:")
        assert done.returncode == (2 if wants_error else 0), f"{command}\n{done.stdout}\n{done.stderr}"
        for line in shown:
            assert line in (done.stderr if wants_error else done.stdout), (command, line)
