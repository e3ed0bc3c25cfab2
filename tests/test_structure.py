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


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(nodes: list[ast.stmt]) -> list[ast.AST]:
    """Every node that can run: module level and inside functions, minus ``if TYPE_CHECKING:`` bodies."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = list(nodes)
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    package = ".".join(path.relative_to(CORE.parent).with_suffix("").parts[:-1])
    return _imports_in(path.read_text(encoding="utf-8"), package, known)


def _imports_in(text: str, package: str, known: dict[str, Path]) -> set[str]:
    """Modules of zoo a module imports when it runs: at module level or inside a function.

    Imports under ``if TYPE_CHECKING`` never run and are left out. ``from zoo import env``
    imports the module ``zoo.env``; a package is counted only for a name it defines itself
    (importing any module runs its packages first anyway).
    """
    targets: set[str] = set()
    for node in _runtime_nodes(ast.parse(text).body):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    return {t for t in targets if t in known}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_no_module_is_longer_than_the_limit() -> None:
    long = {
        str(p.relative_to(CORE)): n for p in CORE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_no_import_circles() -> None:
    graph = _graph()
    assert _circles(graph) == []
    assert (
        graph["zoo.files.safefile"] and "zoo.contracts.spec" in graph["zoo.plugins.registry"]
    )  # the walk sees real imports
    assert "zoo.plugins.builtin" in graph["zoo.plugins.registry"]  # ... imports inside functions among them


def test_the_walk_follows_functions_and_skips_type_checking() -> None:
    text = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from zoo.use.loaded import LoadedModel\nelse:\n    from zoo import errors\n"
        "def f():\n    from zoo import env, __version__\n    import zoo.contracts.spec\n"
        "    def g():\n        from .files.outpath import check_output\n"
    )
    assert _imports_in(text, "zoo", _modules()) == {
        "zoo",
        "zoo.errors",
        "zoo.env",
        "zoo.contracts.spec",
        "zoo.files.outpath",
    }
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}, "g": {"g2"}, "g2": set()}
    assert _circles(graph) == [["a", "b", "c"], ["e", "f"]]


def test_the_first_party_plugin_list_is_the_registry_s() -> None:
    """noxfile.py cannot import zoo (it runs outside the venv), so its copy is held equal here."""
    from zoo.plugins.registry import FIRST_PARTY

    tree = ast.parse((CORE.parents[3] / "noxfile.py").read_text(encoding="utf-8"))
    found = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PLUGINS" for t in node.targets)
    ]
    assert found == [FIRST_PARTY]


def test_core_names_no_plugin_option_and_writes_no_memory_by_hand() -> None:
    for path in CORE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name == "hostmem.py":  # calls glibc's mallopt, and nothing else of ctypes
            assert set(re.findall(r"ctypes\.(\w+)", text)) == {"CDLL", "c_int"}, path
        else:
            assert "ctypes" not in text, path
        for flag in ('"--top"', '"--generate"', '"--temperature"', '"--csv"'):
            assert flag not in text, (path, flag)
