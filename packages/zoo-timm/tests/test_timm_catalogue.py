"""Registration from the shipped catalogue: what it lists, that it matches timm, and no torch on listing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Cli
from zoo_timm.catalogue import catalogue, picture_words, tag_config

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_catalogue.py"
ASKED = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenetv3_small_100",
    "mobilenetv3_large_100",
    "efficientnet_b0",
    "convnext_atto",
    "convnext_nano",
    "regnety_004",
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "test_resnet",
    "test_vit",
    "test_efficientnet",
    "test_convnext",
)


def test_listing_and_registering_import_neither_torch_nor_timm(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom zoo.cli import main\n"
        "for argv in (['zoo', 'list', 'timm.*'], ['zoo', 'list', '--json']):\n"
        "    sys.argv = argv\n"
        "    try:\n        main()\n    except SystemExit as exc:\n        assert not exc.code, exc.code\n"
        "print('IMPORTED', 'torch' in sys.modules, 'timm' in sys.modules)\n"
    )
    env = {"ZOO_LOAD_PLUGINS": "timm", "ZOO_STRICT_PLUGINS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for arch in ASKED:
        assert f"timm.{arch} " in done.stdout, arch
    assert "IMPORTED False False" in done.stdout


def test_every_published_tag_is_catalogued_with_its_preprocessing() -> None:
    timm = pytest.importorskip("timm")
    models = catalogue()["models"]
    for arch in ASKED:
        published = [name.split(".", 1)[1] for name in timm.list_pretrained(f"{arch}.*")]
        assert list(models[arch]["tags"]) == published, arch
    config = tag_config("resnet18", "a1_in1k")
    assert config["input_size"] == [3, 224, 224] and config["interpolation"] == "bicubic"
    assert config["license"] == "apache-2.0" and config["hf_hub_id"] == "timm/resnet18.a1_in1k"
    assert picture_words(config).startswith("RGB 224x224, resize 235 (bicubic) + center crop")


def test_parameter_counts_are_the_built_models() -> None:
    from zoo_timm.models import build

    for arch in ("test_resnet", "test_vit"):
        model = build(arch)
        assert sum(p.numel() for p in model.parameters()) == catalogue()["models"][arch]["parameters"]


def test_the_script_regenerates_the_shipped_catalogue(tmp_path: Path) -> None:
    pytest.importorskip("timm")
    out = tmp_path / "catalogue.json"
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True, timeout=300)
    assert json.loads(out.read_text()) == catalogue()


def test_info_and_unknown_names(cli: Cli, tmp_path: Path) -> None:
    info = cli("info", "timm.resnet18", cwd=tmp_path).stdout
    assert "a1_in1k, a2_in1k" in info and "11.69M parameters" in info
    assert "(N, 3, 224, 224) normalized pictures: RGB 224x224, resize 235 (bicubic)" in info
    wrong = cli("info", "timm.resnet81", cwd=tmp_path, check=False)
    assert wrong.returncode == 2 and "did you mean 'timm.resnet18'" in wrong.stderr
    assert "Traceback" not in wrong.stderr
