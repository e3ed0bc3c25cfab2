"""``zoo new-plugin``: write a plugin package that builds, installs and passes ``zoo check``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from zoo.cli.app import app, out


@app.command(
    "new-plugin",
    epilog="Examples: zoo new-plugin hello; zoo new-plugin hello --dir plugins/zoo-hello",
)
def new_plugin_cmd(
    name: str = typer.Argument(..., metavar="NAME", help="The plugin's namespace: its models are NAME.MODEL."),
    folder: Optional[Path] = typer.Option(
        None, "--dir", metavar="DIR", help="Where to write the package (default: zoo-NAME); must not exist."
    ),
) -> None:
    """Write a plugin package: pyproject.toml with the entry point, a model, a dataset that makes its own data,
    a test that runs zoo's conformance kit, and a README with the commands (pip install ./DIR; zoo check NAME;
    pytest DIR)."""
    from zoo.errors import UsageError
    from zoo.plugins.template import check_name, plugin_files

    check_name(name)
    target = folder if folder is not None else Path(f"zoo-{name}")
    if target.is_symlink() or target.exists():
        raise UsageError(f"{target} already exists; zoo new-plugin writes a new folder", hint="pick another --dir")
    files = plugin_files(name, str(target))
    target.mkdir(parents=True)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as handle:  # a fresh folder: never overwrites
            handle.write(text)
    out.print(f"wrote {len(files)} files to {target}{os.sep}", markup=False)
    out.print(f"next: pip install ./{target} && zoo check {name} && pytest {target}", markup=False)
