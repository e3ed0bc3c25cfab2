"""``zoo check``: the plugin conformance kit on the command line."""

from __future__ import annotations

from typing import Optional

import typer

from zoo.cli.app import app, out, print_json
from zoo.cli.common import json_option


@app.command(
    "check",
    epilog="Examples: zoo check; zoo check vision; zoo check zoo-hello --json",
)
def check_cmd(
    plugins: Optional[list[str]] = typer.Argument(
        None, metavar="[PLUGIN]...", help="Plugins to check, by namespace or distribution (default: all installed)."
    ),
    as_json: bool = json_option(),
) -> None:
    """Prove that plugins work with every zoo command: registration without torch, references, building, a
    training step, a safetensors round trip, evaluation, prediction of their examples (and by name with their
    published weights), export to ONNX and pt2, a serve round trip, complete metadata. Exits 1 when a check
    fails; a check whose optional extra is missing passes and says so."""
    from zoo.testing import as_json as results_json
    from zoo.testing import check_plugin, installed_plugins

    names = list(plugins or installed_plugins())
    if not names:
        out.print("no plugins installed", markup=False)
        raise typer.Exit(1)
    results = [r for name in names for r in check_plugin(name)]
    failed = [r for r in results if not r.ok]
    if as_json:
        print_json(results_json(results))
    else:
        for r in results:
            mark = "ok  " if r.ok else "FAIL"
            where = r.model or f"plugin {r.plugin}"
            out.print(f"{mark} {where}: {r.check}" + (f": {r.message}" if r.message else ""), markup=False)
        models = len({r.model for r in results if r.model})
        out.print(
            f"{len(results) - len(failed)} passed, {len(failed)} failed ({len(names)} plugin(s), {models} model(s))",
            markup=False,
        )
    if failed:
        raise typer.Exit(1)
