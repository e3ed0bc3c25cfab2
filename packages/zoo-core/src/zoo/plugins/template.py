"""The files ``zoo new-plugin NAME`` writes: a plugin package that builds, installs and passes ``zoo check``.

One model (``NAME.xor``, a 2-4-1 tanh network), a dataset that makes its own data (the
four XOR points, no download), an adapter with a declared predict option, a test that
calls ``zoo.testing.assert_plugin_ok`` and a README with the commands. The README of
zoo itself shows these files for ``hello``, and its test compares them. No torch.
"""

from __future__ import annotations

import re
from string import Template

from zoo.errors import UsageError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,30}")

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "zoo-$name"
version = "0.1.0"
description = "A zoo plugin: the $name.xor model"
requires-python = ">=3.10"
dependencies = ["zoo-core"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points."zoo.plugins"]
$name = "zoo_$name.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/zoo_$name"]
"""

INIT = '''\
"""The $name plugin for zoo."""
'''

PLUGIN = '''\
"""What the plugin offers, without importing torch (so zoo list stays instant)."""

from zoo.plugin import DatasetSpec, ModelSpec, Option, Recipe, hookimpl

XOR = "zoo_$name.impl:load_xor"


@hookimpl
def zoo_register_datasets(register):
    register(DatasetSpec("xor", "the four XOR points", XOR, sample=XOR))


@hookimpl
def zoo_register_models(register):
    register(
        ModelSpec(
            name="xor",
            summary="2-4-1 tanh network that learns XOR",
            task="binary",
            builder="zoo_$name.impl:build",
            dataset="$name.xor",
            recipes=(
                Recipe(
                    "default",
                    "Adam on the full batch",
                    {"epochs": 200, "batch_size": 0, "lr": 0.05, "optimizer": "adam"},
                    target=("accuracy", 1.0),
                ),
            ),
            config={"hidden": 4},
            adapter="zoo_$name.impl:XorAdapter",
            input_shape="(N, 2) points",
            output_shape="(N, 1) probabilities",
            predict_options=(Option("threshold", 0.5, "probability from which the label is 1"),),
            examples=("1,0", "1,1"),
        )
    )
'''

IMPL = '''\
"""The model, its data and its adapter: imported only when a model is built or trained."""

import torch
from torch import nn
from zoo.plugin import DataBundle, DataRequest, ModelAdapter, TensorSplit


def build(hidden: int = 4) -> nn.Module:
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1), nn.Sigmoid())


def load_xor(request: DataRequest) -> DataBundle:
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    return DataBundle(train=TensorSplit(x, y), meta={"features": 2}, description="4 XOR points")


class XorAdapter(ModelAdapter):
    """The task's defaults, plus the declared --threshold option in predictions."""

    def decode(self, outputs, meta, options):
        results = super().decode(outputs, meta, options)
        for result in results:
            result["label"] = int(result["probability"] >= options["threshold"])
        return results
'''

TEST = '''\
"""zoo's conformance kit: what zoo check NAME runs, in this package's own tests."""

from zoo.plugin import assert_plugin_ok


def test_the_plugin_passes_zoo_check():
    assert_plugin_ok("$name")
'''

README = """\
# zoo-$name

A [zoo](https://pypi.org/project/zoo-core/) plugin with one model, `$name.xor`.

```
pip install ./$folder
zoo list
zoo check $name
zoo train $name.xor
zoo predict runs/$name.xor/latest 1,0 --threshold 0.9
pip install './$folder[test]' && pytest $folder
```

`src/zoo_$name/plugin.py` registers the model and its data without importing torch;
`src/zoo_$name/impl.py` builds the model, makes the data and reads predictions.
"""


def check_name(name: str) -> str:
    """A plugin name: the namespace of its models and the ``zoo_NAME`` package."""
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"plugin name {name!r} must be lower-case letters, digits and _, starting with a letter",
            hint="for example: zoo new-plugin hello",
        )
    return name


def plugin_files(name: str, folder: str) -> dict[str, str]:
    """Relative path -> text of every file of the plugin package ``zoo-NAME``."""
    check_name(name)
    files = {
        "pyproject.toml": PYPROJECT,
        f"src/zoo_{name}/__init__.py": INIT,
        f"src/zoo_{name}/plugin.py": PLUGIN,
        f"src/zoo_{name}/impl.py": IMPL,
        "tests/test_plugin.py": TEST,
        "README.md": README,
    }
    return {path: Template(text).substitute(name=name, folder=folder) for path, text in files.items()}
