"""docs/architecture.md stays true to the code: its module map names every module, and every file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
CORE = ROOT / "packages" / "zoo-core" / "src" / "zoo"
MAP_LINE = re.compile(r"^  ([\w/]+\.py)\s")
NAMED = re.compile(r"(?<![\w/.-])([\w/]+\.py)\b")


def _core_modules() -> set[str]:
    """Every module of zoo-core by its path below ``zoo/``; a subpackage's ``__init__`` is the folder's own line."""
    found = set()
    for path in CORE.rglob("*.py"):
        rel = path.relative_to(CORE).as_posix()
        if (rel.endswith("/__init__.py") or rel == "__main__.py") or "static" in path.parts:
            continue
        found.add(rel)
    return found


def _module_map() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("```\npackages/zoo-core/src/zoo/\n", 1)[1].split("```", 1)[0]
    return {m.group(1) for line in block.splitlines() if (m := MAP_LINE.match(line))}


def _exists(name: str, core: set[str]) -> bool:
    if name in core or (ROOT / name).is_file():
        return True
    if "/" not in name and sum(Path(m).name == name for m in core) == 1:
        return True  # a core module's bare file name, when only one module has it
    return any(p.as_posix().endswith("/" + name) for p in (ROOT / "packages").rglob("*.py"))


def test_the_module_map_names_every_core_module_once() -> None:
    core = _core_modules()
    listed = _module_map()
    assert sorted(core - listed) == [], "modules missing from the map in docs/architecture.md"
    assert sorted(listed - core) == [], "the map in docs/architecture.md names modules that do not exist"


def test_every_file_the_document_names_exists() -> None:
    core = _core_modules()
    named = {m.group(1) for m in NAMED.finditer(DOC.read_text(encoding="utf-8"))}
    assert named, "the walk finds file names"
    assert sorted(n for n in named if not _exists(n, core)) == []
