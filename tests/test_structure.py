"""The shape of zoo-core that keeps it legible: small modules, no import circles, no plugin options in core."""

from __future__ import annotations

import ast
import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "packages" / "zoo-core" / "src" / "zoo"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in CORE.rglob("*.py"):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Modules of zoo imported at module level (imports under ``if TYPE_CHECKING`` or in functions do not run)."""
    targets: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {t for t in targets if t in known}


def test_no_module_is_longer_than_the_limit() -> None:
    long = {
        str(p.relative_to(CORE)): n for p in CORE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_no_import_circles() -> None:
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    cycles = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        for nxt in graph[node]:
            if nxt in stack:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in done:
                done.add(nxt)
                visit(nxt, [*stack, nxt], done)

    for name in graph:
        visit(name, [name], {name})
    assert not cycles, cycles
    assert graph["zoo.safefile"] and "zoo.spec" in graph["zoo.registry"]  # the walk sees real imports


def test_core_names_no_plugin_option_and_writes_no_memory_by_hand() -> None:
    for path in CORE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name == "hostmem.py":  # calls glibc's mallopt, and nothing else of ctypes
            assert set(re.findall(r"ctypes\.(\w+)", text)) == {"CDLL", "c_int"}, path
        else:
            assert "ctypes" not in text, path
        for flag in ('"--top"', '"--generate"', '"--temperature"', '"--csv"'):
            assert flag not in text, (path, flag)
