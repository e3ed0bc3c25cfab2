"""Published weights as a plugin declares them: listing, NAME[:TAG] everywhere, the hash check, fine-tuning."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from zoo_testkit import TOY_IMPL, TOY_PLUGIN, Runner, write_plugin

WEIGHTS = """
from zoo import Weights

def declared(sha256, size):
    return (Weights(tag="default", file="toyplug:weights/mlp-default.safetensors", sha256=sha256, size=size,
                    dataset="toy.blobs", split="val", metric="val_accuracy", value=0.9, recipe="default",
                    command="zoo train toy.mlp --seed 1", seed=1, train_seconds=0.5, device="cpu"),)
"""


@pytest.fixture(scope="module")
def weights_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy plugin with a trained mlp shipped in its package and declared with its hash."""
    root = tmp_path_factory.mktemp("weights")
    plain = write_plugin(
        root / "plain", "toy-plugin", "toyplug", {"__init__.py": TOY_PLUGIN, "impl.py": TOY_IMPL}, {"toy": "toyplug"}
    )
    env = {**os.environ, "PYTHONPATH": str(plain), "ZOO_LOAD_PLUGINS": "toy"}
    run = root / "run"
    subprocess.run(
        [sys.executable, "-m", "zoo", "train", "toy.mlp", "--seed", "1", "--out", str(run), "-q"],
        check=True,
        env=env,
        capture_output=True,
    )
    data = (run / "best.safetensors").read_bytes()
    plugin = TOY_PLUGIN.replace('config={"hidden": 8},', 'config={"hidden": 8}, weights=declared(SHA, SIZE),')
    plugin = (
        f"from toyplug.weights_decl import declared\nSHA = {hashlib.sha256(data).hexdigest()!r}\n"
        f"SIZE = {len(data)}\n" + plugin
    )
    site = write_plugin(
        root / "site",
        "toy-plugin",
        "toyplug",
        {"__init__.py": plugin, "impl.py": TOY_IMPL, "weights_decl.py": WEIGHTS},
        {"toy": "toyplug"},
    )
    (site / "toyplug" / "weights").mkdir()
    (site / "toyplug" / "weights" / "mlp-default.safetensors").write_bytes(data)
    return site


def test_weights_are_listed_and_used_by_name(zoo_cli: Runner, weights_site: Path, tmp_path: Path) -> None:
    listed = json.loads(zoo_cli("weights", "--json", sites=(weights_site,), check=True).stdout)
    assert [(w["model"], w["tag"]) for w in listed] == [("toy.mlp", "default")]
    assert listed[0]["command"] == "zoo train toy.mlp --seed 1" and listed[0]["metric"] == "val_accuracy"
    info = json.loads(zoo_cli("info", "toy.mlp", "--json", sites=(weights_site,), check=True).stdout)
    assert info["weights"][0]["sha256"] == listed[0]["sha256"]
    by_name = json.loads(zoo_cli("eval", "toy.mlp", "--json", sites=(weights_site,), check=True).stdout)
    by_tag = json.loads(zoo_cli("eval", "toy.mlp:default", "--json", sites=(weights_site,), check=True).stdout)
    assert by_name == by_tag and by_name["accuracy"] > 0.5
    predicted = zoo_cli("predict", "toy.mlp", "0,3", "3,-2", "--json", sites=(weights_site,), check=True)
    run = weights_site.parent / "run"  # the run the shipped file was copied from
    direct = zoo_cli("predict", str(run), "0,3", "3,-2", "--json", sites=(weights_site,), check=True)
    assert json.loads(predicted.stdout) == json.loads(direct.stdout)
    missing = zoo_cli("predict", "toy.mlp:best", "0,3", sites=(weights_site,))
    assert missing.returncode == 2 and "no weights tagged 'best'" in missing.stderr and "default" in missing.stderr


def test_fine_tuning_starts_from_the_weights_and_says_so(zoo_cli: Runner, weights_site: Path, tmp_path: Path) -> None:
    run = tmp_path / "tuned"
    done = zoo_cli(
        "train",
        "toy.mlp",
        "--weights",
        "default",
        "--epochs",
        "1",
        "--out",
        str(run),
        sites=(weights_site,),
        check=True,
    )
    assert "starting from weights toy.mlp:default" in done.stdout
    meta = json.loads(
        zoo_cli("info", str(run / "last.safetensors"), "--json", sites=(weights_site,), check=True).stdout
    )
    assert meta["weights_from"] == "toy.mlp:default"


def test_library_loads_published_weights(weights_site: Path) -> None:
    code = (
        "import zoo, torch\n"
        "m = zoo.create('toy.mlp', weights='default')\n"
        "loaded = zoo.load('toy.mlp')\n"
        "x = torch.randn(4, 2)\n"
        "assert torch.equal(m(x), loaded.model(x))\n"
        "out = loaded.predict(['0,3'])[0]['output']\n"
        "assert torch.allclose(torch.tensor(out), m(torch.tensor([[0.0, 3.0]]))[0])\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(weights_site), "ZOO_LOAD_PLUGINS": "toy"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("damage", ["modified", "truncated"])
def test_a_damaged_shipped_file_is_refused_by_name(
    zoo_cli: Runner, weights_site: Path, tmp_path: Path, damage: str
) -> None:
    site = tmp_path / "site"
    shutil.copytree(weights_site, site)
    path = site / "toyplug" / "weights" / "mlp-default.safetensors"
    data = bytearray(path.read_bytes())
    if damage == "modified":
        data[-1] ^= 0xFF
    else:
        data = data[:-16]
    path.write_bytes(bytes(data))
    done = zoo_cli("predict", "toy.mlp", "0,3", sites=(site,))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(path) in done.stderr and ("expected" in done.stderr)


def test_weights_listing_shows_a_modified_or_missing_file(zoo_cli: Runner, weights_site: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(weights_site, site)
    path = site / "toyplug" / "weights" / "mlp-default.safetensors"
    listed = zoo_cli("weights", "--json", sites=(site,), check=True)
    assert [w["status"] for w in json.loads(listed.stdout)] == ["ok"] and "warning" not in listed.stderr
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: only the hash tells
    path.write_bytes(bytes(data))
    table = zoo_cli("weights", sites=(site,), check=True)
    assert "toy.mlp:default  modified" in table.stdout and "does not match its declaration" in table.stderr
    path.unlink()
    missing = zoo_cli("weights", "--json", sites=(site,), check=True)
    assert [w["status"] for w in json.loads(missing.stdout)] == ["missing"]
