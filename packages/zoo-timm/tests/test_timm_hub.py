"""Weights from a local stand-in for the Hugging Face Hub: good, tampered, pickled, offline, unreachable."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hubserver import Hub, running_hub
from safetensors.torch import save_file

from conftest import Cli, draw_folder

REPO = "timm/test_resnet.r160_in1k"
TRAIN = ("train", "timm.test_resnet", "--pretrained", "r160_in1k", "--epochs", "1", "--image-size", "64")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A random-initialised timm test_resnet with timm's 1000-class head, as a safetensors file."""
    import timm

    torch.manual_seed(7)
    model = timm.create_model("test_resnet", pretrained=False)
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path.read_bytes()


@pytest.fixture
def hub() -> Iterator[Hub]:
    with running_hub() as running:
        yield running


def _env(hub: Hub, **more: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", **more}


def test_good_weights_are_fetched_checked_recorded_and_loaded(
    cli: Cli, hub: Hub, weights: bytes, tmp_path: Path
) -> None:
    import hashlib

    hub.serve(REPO, weights)
    folder = draw_folder(tmp_path / "shapes", per_class=4)
    cli(*TRAIN, "--data", str(folder), "--out", "run", cwd=tmp_path, env=_env(hub))
    digest = hashlib.sha256(weights).hexdigest()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert json.dumps(config).count(digest) >= 1
    info = cli("info", str(tmp_path / "run" / "best.safetensors"), "--json", cwd=tmp_path).stdout
    assert json.loads(info)["data_meta"]["pretrained"]["sha256"] == digest
    # the body starts from the file: built with the tag, a stem tensor equals the served one
    code = (
        "from zoo_timm.models import build\nfrom safetensors.torch import load_file\nimport sys, torch\n"
        "m = build('test_resnet', 3, 3, 'r160_in1k')\nserved = load_file(sys.argv[1])\n"
        "same = [torch.equal(m.state_dict()[k], served[k]) for k in served if not k.startswith('fc.')]\n"
        "print('SAME', all(same), len(same), m.state_dict()['fc.weight'].shape[0])\n"
    )
    (tmp_path / "served.safetensors").write_bytes(weights)
    env = {**_env(hub), "HF_HOME": str(tmp_path / "hf-home"), "PATH": "/usr/bin:/bin", "ZOO_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "served.safetensors")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "SAME True" in done.stdout and done.stdout.strip().endswith(" 3"), done.stdout + done.stderr
    # offline, the cached copy serves again, and is checked again
    hub.files.clear()
    cli(*TRAIN, "--data", str(folder), "--out", "run2", cwd=tmp_path, env=_env(hub, HF_HUB_OFFLINE="1"))


def test_a_tampered_file_is_refused_and_not_kept(cli: Cli, hub: Hub, weights: bytes, tmp_path: Path) -> None:
    import hashlib

    tampered = bytearray(weights)
    tampered[-1] ^= 0xFF
    hub.serve(REPO, bytes(tampered), etag=hashlib.sha256(weights).hexdigest())
    folder = draw_folder(tmp_path / "shapes", per_class=3)
    done = cli(*TRAIN, "--data", str(folder), cwd=tmp_path, env=_env(hub), check=False)
    assert done.returncode == 2, done.stderr
    assert (
        "the hub's LFS sha256 is" in done.stderr
        and "refused" in done.stderr
        and "Traceback" not in done.stderr
    )
    assert not list((tmp_path / "hf-home").rglob("model.safetensors"))


def test_a_dropped_connection_is_fetched_again_and_checked(
    cli: Cli, hub: Hub, weights: bytes, tmp_path: Path
) -> None:
    import hashlib

    hub.serve(REPO, weights)
    hub.drops = 1
    folder = draw_folder(tmp_path / "shapes", per_class=3)
    cli(*TRAIN, "--data", str(folder), "--out", "run", cwd=tmp_path, env=_env(hub))
    gets = [r for r in hub.requests if r.startswith("GET ") and r.endswith("/model.safetensors")]
    assert len(gets) == 2 and hub.drops == 0, hub.requests  # cut off once, then fetched whole
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert hashlib.sha256(weights).hexdigest() in json.dumps(config)


def test_a_pickle_is_refused(cli: Cli, hub: Hub, tmp_path: Path) -> None:
    hub.serve(REPO, pickle.dumps({"conv1.weight": [1.0, 2.0]}))
    folder = draw_folder(tmp_path / "shapes", per_class=3)
    done = cli(*TRAIN, "--data", str(folder), cwd=tmp_path, env=_env(hub), check=False)
    assert done.returncode == 2 and "model.safetensors" in done.stderr and "Traceback" not in done.stderr
    assert "pickle" in done.stderr.lower() or "safetensors" in done.stderr.lower(), done.stderr


@pytest.mark.parametrize("how", ["offline", "zoo-offline", "unreachable"])
def test_no_hub_is_one_clear_error_naming_the_file_and_the_prefetch(
    cli: Cli, how: str, tmp_path: Path
) -> None:
    env = {
        "offline": {"HF_HUB_OFFLINE": "1"},
        "zoo-offline": {"ZOO_OFFLINE": "1"},
        "unreachable": {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_ETAG_TIMEOUT": "2"},
    }[how]
    folder = draw_folder(tmp_path / "shapes", per_class=3)
    done = cli(*TRAIN, "--data", str(folder), cwd=tmp_path, env=env, check=False)
    assert done.returncode == 2, done.stderr
    assert f"{REPO}/model.safetensors" in done.stderr and "Traceback" not in done.stderr
    assert "python -m zoo_timm.hub timm.test_resnet:r160_in1k" in done.stderr


def test_prefetch_fills_the_cache_without_training(hub: Hub, weights: bytes, tmp_path: Path) -> None:
    hub.serve(REPO, weights)
    env = {**_env(hub), "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "zoo_timm.hub", "timm.test_resnet:r160_in1k"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and "checked against the hub's" in done.stdout, done.stderr
    assert len(list((tmp_path / "hf").rglob("model.safetensors"))) == 1
