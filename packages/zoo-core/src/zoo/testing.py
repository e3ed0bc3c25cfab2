"""The plugin conformance kit: the checks ``zoo check`` runs, importable for a plugin's own tests.

A plugin that passes these works with every zoo command: it registers without torch,
its references resolve, each model builds, trains a step on a sample of its data,
round-trips through a real safetensors file, evaluates the sample, predicts its own
example inputs (and, with published weights, by name), exports to ONNX and pt2 with the
numeric check and answers every serve route in-process. A check whose optional extra
(export, serve) is missing passes and says what to install.
In a plugin's test suite::

    from zoo.testing import assert_plugin_ok

    def test_conformance():
        assert_plugin_ok("hello")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zoo.contracts.spec import ModelSpec, Option
from zoo.errors import ZooError
from zoo.plugins.conformance import ModelChecks, Skipped
from zoo.plugins.registry import Registry, get_registry

#: Python types an option's ``kind`` promises.
KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "str": (str,),
    "path": (str,),
}


@dataclass
class CheckResult:
    """One check of one plugin (and model, when it is about a model)."""

    plugin: str
    model: str
    check: str
    ok: bool
    message: str = ""


_NO_TORCH = """
import json, os, sys
from zoo.plugins.registry import get_registry
registry = get_registry()
info = [p for p in registry.plugins if p.name == sys.argv[1]]
print(json.dumps({"torch": "torch" in sys.modules, "status": info[0].status if info else "missing",
                  "error": info[0].error if info else None}))
"""


def _registers_without_torch(plugin: str) -> str | None:
    """Load only this plugin in a fresh interpreter; None when it registered without torch."""
    import os

    env = {**os.environ, "ZOO_LOAD_PLUGINS": plugin, "ZOO_STRICT_PLUGINS": ""}
    done = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, plugin], capture_output=True, text=True, env=env, timeout=120
    )
    if done.returncode != 0:
        return f"loading it in a fresh interpreter failed: {done.stderr.strip().splitlines()[-1:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["status"] != "ok":
        return f"it is broken: {report['error']}"
    if report["torch"]:
        return "registering it imports torch (zoo list must stay instant): import torch inside builders only"
    return None


def _option_problems(options: tuple[Option, ...]) -> list[str]:
    problems = []
    for option in options:
        if not option.name.isidentifier():
            problems.append(f"option name {option.name!r} is not an identifier")
        if not option.help:
            problems.append(f"option {option.flag} has no help text")
        if option.kind and option.kind not in KINDS:
            problems.append(f"option {option.flag} has unknown kind {option.kind!r} ({', '.join(KINDS)})")
        elif option.kind and option.default is not None:
            wanted = KINDS[option.kind]
            if not isinstance(option.default, wanted) or (option.kind != "bool" and isinstance(option.default, bool)):
                problems.append(
                    f"option {option.flag} is declared {option.kind} but its default {option.default!r} "
                    f"is a {type(option.default).__name__}"
                )
    return problems


def _metadata_problems(spec: ModelSpec, registry: Registry) -> list[str]:
    from zoo.training.hparams import HParams

    problems = []
    if not spec.summary.strip():
        problems.append("no summary")
    if not spec.input_shape or not spec.output_shape:
        problems.append("input_shape and output_shape should say what goes in and comes out")
    if spec.dataset not in registry.datasets:
        problems.append(f"dataset {spec.dataset!r} is not registered")
    for recipe in spec.recipes:
        if not recipe.summary.strip():
            problems.append(f"recipe {recipe.name!r} has no summary")
        try:
            HParams.from_dict(recipe.resolved())
        except ZooError as exc:
            problems.append(f"recipe {recipe.name!r}: {exc.message}")
    problems += _option_problems(spec.predict_options)
    return problems


def check_plugin(plugin: str) -> list[CheckResult]:
    """Every check for one installed plugin (by namespace or distribution name)."""
    registry = get_registry()
    infos = [p for p in registry.plugins if plugin in (p.name, p.distribution) and p.name != "core"]
    if not infos:
        return [CheckResult(plugin, "", "is installed", False, "no such plugin is installed (see zoo plugins)")]
    results: list[CheckResult] = []
    for info in infos:
        problem = _registers_without_torch(info.name)
        results.append(CheckResult(info.name, "", "registers without torch", problem is None, problem or ""))
        if info.status != "ok":
            continue
        for name in info.models:
            spec = registry.models.get(name)
            if spec is None:
                results.append(CheckResult(info.name, name, "is usable", False, "unusable (a name conflict?)"))
                continue
            problems = _metadata_problems(spec, registry)
            results.append(CheckResult(info.name, name, "metadata is complete", not problems, "; ".join(problems)))
            with tempfile.TemporaryDirectory(prefix="zoo-check-") as scratch:
                results += _run_model_checks(info.name, spec, registry, Path(scratch))
    return results


def _run_model_checks(plugin: str, spec: ModelSpec, registry: Registry, folder: Path) -> list[CheckResult]:
    results = []
    for check, run in ModelChecks(spec, registry, folder).steps():
        try:
            problem = run()
        except Skipped as skipped:
            results.append(CheckResult(plugin, spec.full_name, check, True, str(skipped)))
            continue
        except Exception as exc:  # a plugin bug of any kind is a failed check, not a crash
            problem = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        results.append(CheckResult(plugin, spec.full_name, check, problem is None, problem or ""))
        if problem is not None:
            break  # later checks build on this one
    return results


def installed_plugins() -> list[str]:
    return [p.name for p in get_registry().plugins if p.name != "core"]


def assert_plugin_ok(plugin: str) -> None:
    """For a plugin's pytest suite: fail with every problem listed."""
    failed = [r for r in check_plugin(plugin) if not r.ok]
    if failed:
        lines = [f"{r.model or r.plugin}: {r.check}: {r.message}" for r in failed]
        raise AssertionError(f"plugin {plugin!r} fails zoo check:\n" + "\n".join(lines))


def as_json(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]


#: Proxy settings a CLI under test never inherits: the servers of a test listen on 127.0.0.1.
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def cli_env(
    cwd: Path,
    plugins: Sequence[str] | None,
    env: Mapping[str, str] | None = None,
    data_dir: str | Path | None = "zoo-data",
    drop: Sequence[str] = ("ZOO_",),
    threads: int = 1,
) -> dict[str, str]:
    """The environment ``run_cli`` gives ``zoo``: see there; ``env`` is applied last, so it wins."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if (k == "ZOO_NO_PLOTS" or not k.startswith(tuple(drop))) and k not in PROXY_VARS
    }
    kept.pop("ZOO_STRICT_PLUGINS", None)  # a plugin's tests load that plugin alone, whatever else is broken
    kept.update(no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
    if plugins is None:
        kept.pop("ZOO_LOAD_PLUGINS", None)  # every installed plugin
    else:
        kept["ZOO_LOAD_PLUGINS"] = ",".join(plugins)
    if data_dir is None:
        kept.pop("ZOO_DATA_DIR", None)
    else:
        kept["ZOO_DATA_DIR"] = str(cwd / data_dir)
    kept.setdefault("OMP_NUM_THREADS", str(threads))  # tiny models: more threads only add contention
    kept.update(env or {})
    return kept


def run_cli(
    *args: str,
    cwd: Path,
    plugins: Sequence[str] | None,
    env: Mapping[str, str] | None = None,
    data_dir: str | Path | None = "zoo-data",
    timeout: float = 300,
    check: bool = True,
    drop: Sequence[str] = ("ZOO_",),
    threads: int = 1,
) -> subprocess.CompletedProcess[str]:
    """``python -m zoo ARGS`` in ``cwd`` with only ``plugins`` loaded (None: every one): the real command in tests.

    The caller's variables starting with a prefix in ``drop`` are not passed on (``ZOO_``
    by default, so the shell's settings do not leak in; ``ZOO_NO_PLOTS`` is kept), nor are
    proxies or ``ZOO_STRICT_PLUGINS``. ``ZOO_DATA_DIR`` is ``data_dir`` (relative to ``cwd``;
    None unsets it); ``OMP_NUM_THREADS`` defaults to ``threads``; ``env`` is applied last.
    With ``check`` a non-zero exit fails the test with the command's output.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        cwd=cwd,
        env=cli_env(cwd, plugins, env, data_dir, drop, threads),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"zoo {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


#: Paths that are not regular files, each with the start of the message every bounded reader
#: gives for it (after ``PATH: ``): ``(kind, message)`` for ``not_regular_file``.
NOT_REGULAR_FILES: tuple[tuple[str, str], ...] = (
    ("folder", "is a folder, not a file"),
    ("fifo", "is a named pipe (FIFO), not a regular file"),
    ("zero", "is a symlink to a device, not a regular file"),
    ("dangling", "is a symlink to a missing file"),
)


def not_regular_file(path: Path, kind: str) -> Path:
    """Make ``path`` a ``kind`` of ``NOT_REGULAR_FILES``, so a test can check a reader refuses it."""
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "dangling":
        path.symlink_to(path.parent / f"gone-{path.name}")
    else:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(k for k, _ in NOT_REGULAR_FILES)}")
    return path
