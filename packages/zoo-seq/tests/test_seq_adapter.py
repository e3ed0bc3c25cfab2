"""The adapters: the summed RNNCell loss, metrics, the per-epoch line, prediction and sampling."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from zoo.plugin import DataBundle, DataError, DataRequest, ModelSpec, TensorSplit, UsageError, resolve

from zoo_seq import plugin
from zoo_seq.adapter import SeqAdapter, StepSumAdapter, generate
from zoo_seq.data import load
from zoo_seq.models import CharEmbeddingRNN, CharRNN

CPU = torch.device("cpu")
PAIRS_META = {"mode": "pairs", "vocab": ["e", "h", "l", "o"]}


def specs() -> dict[str, ModelSpec]:
    found: list[ModelSpec] = []
    plugin.zoo_register_models(found.append)
    return {spec.name: spec for spec in found}


def adapter_for(name: str) -> SeqAdapter:
    spec = specs()[name]
    assert spec.adapter is not None
    adapter = resolve(spec.adapter)(spec)
    assert isinstance(adapter, SeqAdapter)
    return adapter


class Fixed(torch.nn.Module):
    """A stand-in model whose logits favour a fixed index per position."""

    def __init__(self, answer: list[int], vocab_size: int = 4) -> None:
        super().__init__()
        self.answer = answer
        self.vocab_size = vocab_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], x.shape[1], self.vocab_size)
        for t in range(x.shape[1]):
            logits[:, t, self.answer[t % len(self.answer)]] = 3.0
        return logits


def test_rnncell_loss_adds_cross_entropy_step_by_step_as_the_notes_do() -> None:
    torch.manual_seed(0)
    outputs, targets = torch.randn(1, 5, 4), torch.tensor([[3, 1, 2, 3, 2]])
    expected = sum(F.cross_entropy(outputs[:, t], targets[:, t]) for t in range(5))
    assert isinstance(adapter_for("rnncell"), StepSumAdapter)
    assert torch.allclose(adapter_for("rnncell").loss(outputs, targets), torch.as_tensor(expected))
    mean = adapter_for("rnn").loss(outputs, targets)
    assert torch.allclose(mean, torch.as_tensor(expected) / 5)


def test_metrics_count_characters_whole_sequences_and_perplexity() -> None:
    adapter = adapter_for("rnn")
    outputs = Fixed([3, 1, 2, 3, 2])(torch.zeros(2, 5, dtype=torch.int64))
    targets = torch.tensor([[3, 1, 2, 3, 2], [3, 1, 2, 3, 0]])
    metrics = adapter.finalize(adapter.batch_stats(outputs, targets, None))
    assert metrics["accuracy"] == pytest.approx(9 / 10)
    assert metrics["exact"] == pytest.approx(1 / 2)
    nll = F.cross_entropy(outputs.reshape(-1, 4), targets.reshape(-1)).item()
    assert metrics["perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)


def test_epoch_report_prints_the_guess(tmp_path: Path) -> None:
    seed = load(DataRequest(options=dict(plugin.DATA_OPTIONS), data_dir=tmp_path))
    model = Fixed([3, 1, 2, 3, 2])
    model.train()
    assert adapter_for("rnncell").epoch_report(model, seed, CPU) == "predicted: ohlol"
    assert model.training  # the trainer's mode is left as it was
    zeros = torch.zeros(2, 3, dtype=torch.int64)
    two = DataBundle(train=TensorSplit(zeros, zeros), meta=PAIRS_META)
    assert adapter_for("rnn").epoch_report(Fixed([0, 1, 2]), two, CPU) == (
        "predicted: ehl (for 'eee', first of 2 pairs)"
    )


def test_epoch_report_in_text_mode_shows_a_greedy_sample() -> None:
    x = torch.tensor([[0, 1, 2, 3]])
    text = DataBundle(
        train=TensorSplit(x, x),
        val=TensorSplit(x, x),
        meta={"mode": "text", "vocab": ["a", "b", "c", "d"], "seq_len": 4},
    )
    report = adapter_for("embedding").epoch_report(Fixed([1]), text, CPU)
    assert report == "sample: 'abcd' -> '" + "b" * 40 + "'"


def test_predict_positions_and_top() -> None:
    adapter = adapter_for("rnn")
    (result,) = adapter.predict(Fixed([3, 1, 2, 3, 2]), ["hello"], PAIRS_META, {"top": 2}, CPU)
    assert result["output"] == "ohlol"
    first = result["positions"][0]
    assert first["char"] == "o" and len(first["distribution"]) == 2
    assert first["probability"] == pytest.approx(math.exp(3) / (math.exp(3) + 3), abs=1e-6)


def test_predict_reads_extra_inputs_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "inputs.txt").write_text("hello\r\n\nhell\n", encoding="utf-8")
    results = adapter_for("rnn").predict(
        Fixed([3, 1, 2, 3, 2]), [], PAIRS_META, {"csv": str(tmp_path / "inputs.txt")}, CPU
    )
    assert [r["output"] for r in results] == ["ohlol", "ohlo"]
    with pytest.raises(DataError, match="file not found"):
        adapter_for("rnn").predict(Fixed([0]), [], PAIRS_META, {"csv": str(tmp_path / "nope.txt")}, CPU)


@pytest.mark.parametrize(
    ("inputs", "options", "meta", "message"),
    [
        (["hexzo"], {}, PAIRS_META, r"outside the model's vocabulary: 'x', 'z'"),
        ([""], {}, PAIRS_META, "an input is empty"),
        (["hello"], {"generate": 5}, PAIRS_META, "trained on input/target pairs"),
        (["hello"], {"generate": 5, "temperature": -1}, {**PAIRS_META, "mode": "text"}, "--temperature"),
        (["hello"], {"generate": -1}, {**PAIRS_META, "mode": "text"}, "--generate must be at least 0"),
        (["hello"], {}, {}, "no vocabulary"),
    ],
)
def test_predict_usage_errors(
    inputs: list[str], options: dict[str, Any], meta: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        adapter_for("rnn").predict(Fixed([0]), inputs, meta, options, CPU)


def test_generation_is_greedy_at_zero_and_reproducible_when_sampling() -> None:
    torch.manual_seed(0)
    model = CharEmbeddingRNN(vocab_size=10).eval()
    greedy = generate(model, [1, 2, 3], 20, 8, 0.0, None, CPU)
    ids = [1, 2, 3]
    for _ in range(20):
        ids.append(int(model(torch.tensor([ids[-8:]]))[0, -1].argmax()))
    assert greedy == ids[3:]

    def sample(seed: int) -> list[int]:
        return generate(model, [1, 2, 3], 50, 8, 1.0, torch.Generator().manual_seed(seed), CPU)

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_predict_generate_returns_prefix_and_continuation() -> None:
    torch.manual_seed(0)
    meta = {"mode": "text", "vocab": list("abcdefghij"), "seq_len": 8}
    model = CharRNN(vocab_size=10, hidden_size=12)
    options = {"generate": 12, "temperature": 0.5}
    (first,) = adapter_for("rnn").predict(model, ["abc"], meta, options, CPU)
    (again,) = adapter_for("rnn").predict(model, ["abc"], meta, options, CPU)
    assert first == again
    assert first["output"] == "abc" + first["generated"] and len(first["generated"]) == 12
    assert first["temperature"] == 0.5
    (plain,) = adapter_for("rnn").predict(model, ["abc"], meta, {}, CPU)
    assert plain["next"] == plain["output"][-1] and len(plain["positions"]) == 3


def test_transforms_and_decode_are_what_predict_does() -> None:
    adapter = adapter_for("rnn")
    torch.manual_seed(0)
    model = CharRNN(vocab_size=4, hidden_size=4).eval()
    transform = adapter.transforms(PAIRS_META)
    assert transform("hello").tolist() == [1, 0, 2, 2, 3]  # indices into the vocabulary
    predicted = adapter.predict(model, ["hello", "oh"], PAIRS_META, {"top": 2}, CPU)
    for text, result in zip(["hello", "oh"], predicted, strict=True):
        with torch.no_grad():
            (decoded,) = adapter.decode(model(transform(text)[None]), PAIRS_META, {"top": 2})
        assert decoded["output"] == result["output"]
        assert decoded["positions"] == [
            {k: v for k, v in p.items() if k != "input"} for p in result["positions"]
        ]
    with pytest.raises(UsageError, match="characters outside the model.s vocabulary"):
        transform("xyz")
    with pytest.raises(UsageError, match="--generate runs the model again"):
        adapter.decode(torch.zeros(1, 2, 4), PAIRS_META, {"generate": 3})
    with pytest.raises(UsageError, match=r"expected \(batch, length, 4\) scores"):
        adapter.decode(torch.zeros(1, 4), PAIRS_META, {})
