"""zoo serve for models that are not the notes': a 5-class picture model, a regressor of a CSV's column.

Served under names of their own (``NAME=REF``); the words the page shows come from each
checkpoint (task, classes, data, metric), a numbers form starts at the training medians,
and a request body with a key zoo does not know is refused by name.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_testkit import run_zoo, serving

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

LETTERS = "abcde"
FEATURES = ("rooms", "area", "age", "distance")


def _stroke(draw: Any, k: int, s: int) -> None:
    """Class ``k``'s stroke, shifted by ``s`` pixels."""
    if k == 0:
        draw.line((20 + s, 6, 20 + s, 34), fill=255, width=4)  # a vertical bar
    elif k == 1:
        draw.line((6, 20 + s, 34, 20 + s), fill=255, width=4)  # a horizontal bar
    elif k == 2:
        draw.ellipse((8 + s, 8, 32 + s, 32), outline=255, width=4)  # a ring
    elif k == 3:
        draw.line((6, 6 + s, 34, 34 + s), fill=255, width=4)  # a diagonal
    else:
        draw.line((8, 8 + s, 32, 32 + s), fill=255, width=4)  # a cross
        draw.line((32, 8 + s, 8, 32 + s), fill=255, width=4)


def write_letters(root: Path, per_class: int = 12) -> Path:
    """Five classes named a to e, each a different stroke drawn white on black with some jitter."""
    from PIL import Image, ImageDraw

    rng = random.Random(0)
    for k, name in enumerate(LETTERS):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = Image.new("L", (40, 40), 0)
            _stroke(ImageDraw.Draw(img), k, rng.randint(-3, 3))
            img.save(root / name / f"{i}.png")
    return root


def write_houses(path: Path, rows: int = 120, features: tuple[str, ...] = FEATURES) -> Path:
    """A price that depends linearly on the features, with noise; the target is the last column."""
    rng = random.Random(1)
    lines = [",".join([*features, "price"])]
    for _ in range(rows):
        x = [round(rng.uniform(1, 6) * (j + 1), 2) for j in range(len(features))]
        price = 200 + sum((j % 3 - 1) * 7.5 * v for j, v in enumerate(x)) + rng.gauss(0, 2)
        lines.append(",".join(map(str, [*x, round(price, 2)])))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_letters(work: Path) -> Path:
    run_zoo(
        "train", "vision.cnn", "--data", str(write_letters(work / "letters")), "--epochs", "3",
        "--device", "cpu", "--quiet", "--out", str(work / "letters-run"), cwd=work,
    )  # fmt: skip
    return work / "letters-run"


def train_houses(work: Path, csv: Path, out: str = "houses-run") -> Path:
    run_zoo(
        "train", "tabular.regressor", "--data", str(csv), "--target", "price", "--val-fraction", "0",
        "--epochs", "30", "--device", "cpu", "--quiet", "--out", str(work / out), cwd=work,
    )  # fmt: skip
    return work / out


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("any-model")
    train_letters(work)
    train_houses(work, write_houses(work / "houses.csv"))
    return work


@pytest.fixture(scope="module")
def server(work: Path) -> Iterator[str]:
    with serving("letters=letters-run", "houses-run", "houses-run", cwd=work) as base:
        yield base


def test_models_are_served_under_the_names_given(server: str) -> None:
    names = [m["name"] for m in httpx.get(server + "/v1/models").json()["models"]]
    assert names == ["letters", "tabular.regressor", "tabular.regressor-2"]
    r = httpx.post(server + "/v1/models/letters/predict", json={"inputs": [_png()], "options": {"top": 3}})
    assert r.status_code == 200, r.text
    top = r.json()[0]["top"]
    assert len(top) == 3 and {t["class"] for t in top} <= set(LETTERS)
    assert all(0 <= t["probability"] <= 1 for t in top)


def test_the_page_words_come_from_the_checkpoint(server: str, work: Path) -> None:
    import zoo

    held_out = zoo.load(work / "letters-run").data_meta["split"]["val"]
    models = {m["name"]: m for m in httpx.get(server + "/v1/models").json()["models"]}
    letters = models["letters"]
    assert "5 classes (a, b, c, d, e)" in letters["about"] and "trained on letters" in letters["about"]
    assert "validation accuracy" in letters["about"] and f"on {held_out} samples" in letters["about"]
    assert "Draw one of a, b, c, d, e" in letters["prompt"]
    for words in (letters["about"], letters["prompt"]):
        assert "digit" not in words and "320" not in words
    houses = models["tabular.regressor"]
    assert "a regressor of price" in houses["about"] and "on 120 samples" in houses["about"]
    assert "training mse" in houses["about"]  # --val-fraction 0: measured on the training rows, and said so
    assert "predicts price" in houses["prompt"] and "training medians" in houses["prompt"]
    assert houses["options"] == [] and letters["options"] == ["top"]
    page = httpx.get(server + "/static/app.js").text
    assert "digit" not in page


def test_a_numbers_form_starts_at_the_training_medians(server: str, work: Path) -> None:
    form = httpx.get(server + "/v1/models/tabular.regressor").json()["input_form"]
    rows = [line.split(",") for line in (work / "houses.csv").read_text().splitlines()[1:]]
    columns = list(zip(*[[float(v) for v in row] for row in rows], strict=True))
    assert form["names"] == list(FEATURES)
    if "fields" in form:  # typed columns: each field with its own example
        fields = {f["name"]: f for f in form["fields"]}
        start = [fields[name]["example"] for name in FEATURES]
    else:
        start = form["example"]
        assert form["example_from"] == "the training medians"
    for value, column in zip(start, columns, strict=False):
        ordered = sorted(column)
        low, high = ordered[(len(ordered) - 1) // 2], ordered[len(ordered) // 2]  # the two middle values
        assert low - 1e-4 <= value <= high + 1e-4, (value, low, high)
    row = ",".join(str(v) for v in start)
    answer = httpx.post(server + "/v1/models/tabular.regressor/predict", json={"inputs": [row]})
    assert answer.status_code == 200, answer.text
    prices = columns[-1]
    value = answer.json()[0]["output"]
    assert min(prices) < value < max(prices)  # a price, not the answer to a row of zeros
    assert abs(value - statistics.median(prices)) < statistics.pstdev(prices)


def test_an_unknown_key_in_the_body_is_a_400_that_names_it(server: str) -> None:
    url = server + "/v1/models/letters/predict"
    r = httpx.post(url, json={"inputs": [_png()], "option": {"top": 3}})
    assert r.status_code == 400
    assert "unknown key(s) 'option'" in r.json()["error"] and '"options"' in r.json()["hint"]
    assert httpx.post(url, json={"inputs": [_png()], "options": {"top": 2}}).status_code == 200


def test_bad_and_repeated_names_are_refused(work: Path) -> None:
    proc = run_zoo("serve", "a b=houses-run", "--port", "0", cwd=work, check=False)
    assert proc.returncode == 2 and "a served model's name is 1-64 letters" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_zoo("serve", "m=houses-run", "m=letters-run", "--port", "0", cwd=work, check=False)
    assert proc.returncode == 2 and "two models are named m" in proc.stderr


def _png() -> str:
    """A vertical stroke (class a), as base64 PNG."""
    import base64
    import io

    from PIL import Image, ImageDraw

    img = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(img).line((20, 6, 20, 34), fill=255, width=4)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()
