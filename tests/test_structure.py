"""The shape of zoo-core that keeps it legible: small modules, no import circles, no plugin options in core."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "packages" / "zoo-core" / "src" / "zoo"
MAX_LINES = 300
#: The longest function of core, in lines from its ``def`` to its last line.
MAX_FUNCTION_LINES = 60


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


def test_no_function_is_longer_than_the_limit() -> None:
    long = {
        f"{path.relative_to(CORE)}:{node.lineno} {node.name}": length
        for path in CORE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
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


def test_core_writes_no_memory_by_hand() -> None:
    for path in CORE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name == "hostmem.py":  # calls glibc's mallopt, and nothing else of ctypes
            assert set(re.findall(r"ctypes\.(\w+)", text)) == {"CDLL", "c_int"}, path
        else:
            assert "ctypes" not in text, path


PACKAGES = CORE.parents[2]
#: The plugins of this repository (every package beside zoo-core): held to the plugin API.
PLUGIN_SOURCES = sorted(p / "src" for p in PACKAGES.glob("zoo-*") if p.name != "zoo-core")


def _plugin_files() -> list[Path]:
    return [path for src in PLUGIN_SOURCES for path in sorted(src.rglob("*.py"))]


def _zoo_imports(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """Every import of a zoo module, even under ``if TYPE_CHECKING``: (line, module, names)."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "zoo"]
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "zoo":
            found.append((node.lineno, node.module or "", [a.name for a in node.names]))
    return found


def test_first_party_plugins_import_only_the_plugin_api() -> None:
    """A plugin imports ``zoo.plugin`` and nothing else of zoo, and only the names it declares."""
    import zoo.plugin

    assert len(PLUGIN_SOURCES) >= 4, PLUGIN_SOURCES
    outside, undeclared = [], []
    for path in _plugin_files():
        for line, module, names in _zoo_imports(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(PACKAGES)}:{line}"
            if module != "zoo.plugin":
                outside.append(f"{where} imports {module}")
            undeclared += [f"{where} imports {name}" for name in names if name not in zoo.plugin.__all__]
    assert not outside, "import these from zoo.plugin (docs/plugins.md):\n" + "\n".join(outside)
    assert not undeclared, "not in zoo.plugin.__all__:\n" + "\n".join(undeclared)


def test_the_import_check_sees_every_spelling() -> None:
    text = (
        "import zoo\nimport zoo.files.readfile\nfrom zoo import env\nfrom zoo.plugin import Option\n"
        "from . import sibling\nimport zoology\nif TYPE_CHECKING:\n    from zoo.use.loaded import LoadedModel\n"
        "def f():\n    from zoo.errors import UsageError\n"
    )
    found = {(module, tuple(names)) for _, module, names in _zoo_imports(ast.parse(text))}
    assert found == {
        ("zoo", ()),
        ("zoo.files.readfile", ()),
        ("zoo", ("env",)),
        ("zoo.plugin", ("Option",)),
        ("zoo.use.loaded", ("LoadedModel",)),
        ("zoo.errors", ("UsageError",)),
    }


def _declared_options(tree: ast.AST) -> dict[str, int]:
    """The names of the ``Option(...)`` declarations in a module, each with its line."""
    found = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if called != "Option":
            continue
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            found[first.value] = node.lineno
    return found


def _option_mentions(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """Where a module names one of ``names``: a string (``"generate"``, ``"--generate"``), an attribute or a keyword."""
    spellings = {s: n for n in names for s in (n, "--" + n.replace("_", "-"), "--no-" + n.replace("_", "-"))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in spellings:
            found.append((node.lineno, spellings[node.value]))
        elif isinstance(node, ast.Attribute) and node.attr in names:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.keyword) and node.arg in names:
            found.append((node.value.lineno, node.arg))
    return found


def _core_trees() -> dict[Path, ast.AST]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(CORE.rglob("*.py"))}


def test_core_names_no_plugin_option() -> None:
    """Each plugin option's name, bounds and meaning live in the plugin's ``Option`` declaration.

    Core reads a plugin's options only through the declarations (``typed_options``, the
    declared ``low``/``high``): a core module that spells one out (a cap on ``generate``,
    a ``--csv`` branch) is a plugin feature inside core. Options core declares itself
    (``TOP_CLASSES``, which its multiclass task reads) are core's, whoever lists them.
    """
    trees = _core_trees()
    core_options = {name for tree in trees.values() for name in _declared_options(tree)}
    plugin_options = {
        name: f"{path.relative_to(PACKAGES)}:{line}"
        for path in _plugin_files()
        for name, line in _declared_options(ast.parse(path.read_text(encoding="utf-8"))).items()
    }
    assert {"generate", "csv"} <= set(plugin_options), plugin_options  # the walk finds real declarations
    names = set(plugin_options) - core_options
    found = [
        f"{path.relative_to(CORE)}:{line} names {name!r} (declared in {plugin_options[name]})"
        for path, tree in trees.items()
        for line, name in _option_mentions(tree, names)
    ]
    assert not found, "\n".join(found)


def test_the_option_check_reads_declarations_and_mentions() -> None:
    plugin = 'OPTS = (Option("generate", 200, "how many", low=0), zoo.plugin.Option(name="csv", default=""))\n'
    assert _declared_options(ast.parse(plugin)) == {"generate": 1, "csv": 1}
    core = (
        'MAX = 10\nif options.get("generate") > MAX: pass\nflag = "--csv"\nx = typed.generate\n'
        'f(generate=3)\nhelp = "the generate option"\ngenerate = 1\n'
    )
    assert sorted(_option_mentions(ast.parse(core), {"generate", "csv"})) == [
        (2, "generate"),
        (3, "csv"),
        (4, "generate"),
        (5, "generate"),
    ]


def test_the_plugin_contract_documents_every_name() -> None:
    """``docs/plugins.md`` lists each name of ``zoo.plugin`` and no name it lacks."""
    import zoo.plugin

    text = (CORE.parents[3] / "docs" / "plugins.md").read_text(encoding="utf-8")
    bullets = [line.split(":")[0] for line in text.splitlines() if line.startswith("- `")]
    listed = {name for bullet in bullets for name in re.findall(r"`(\w+)", bullet)}
    assert listed == set(zoo.plugin.__all__), listed ^ set(zoo.plugin.__all__)
    for name in zoo.plugin.__all__:
        assert getattr(zoo.plugin, name) is not None, name


def test_the_plugin_api_imports_without_torch() -> None:
    """A plugin's registering module imports ``zoo.plugin``: ``zoo list`` must not pay for torch."""
    code = "import sys, zoo.plugin; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
