"""How the trainer and ``zoo predict`` talk to the character models.

The models all map ``(B, T)`` indices to ``(B, T, V)`` logits, so one adapter
serves them; the RNNCell model differs only in its loss, which the notes add up
step by step. Prediction reads the vocabulary from the checkpoint's meta, so a
checkpoint alone is enough to turn strings into strings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from zoo.contracts.adapter import ModelAdapter
from zoo.contracts.data import DataBundle, TensorSplit
from zoo.contracts.options import check_range
from zoo.errors import UsageError

from zoo_seq.files import find_file, read_utf8
from zoo_seq.vocab import Vocabulary

#: Characters of greedy continuation shown after each epoch in text mode.
SAMPLE_CHARS = 40
#: The most characters one --generate may ask for: each is a forward pass.
MAX_GENERATE = 100_000
#: Longest ``data_meta.seq_len`` (the training window) an export traces with.
MAX_SEQ_LEN = 100_000
MODES = ("pairs", "text")


class SeqAdapter(ModelAdapter):
    """Metrics, epoch report and prediction for character-to-character models."""

    # -- metrics ------------------------------------------------------------
    def batch_stats(
        self, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int | None
    ) -> dict[str, torch.Tensor]:
        """Per-character accuracy (the default), whole-sequence hits and the summed NLL."""
        stats = super().batch_stats(outputs, targets, num_classes)
        logits = outputs.float()
        stats["nll"] = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
        )
        stats["exact"] = (logits.argmax(dim=-1) == targets).all(dim=-1).float().sum()
        return stats

    def finalize(self, stats: dict[str, torch.Tensor]) -> dict[str, Any]:
        out = super().finalize(stats)
        values = float(stats["values"].item()) if "values" in stats else 0.0
        if "nll" in stats and values:
            nll = float(stats["nll"].item()) / values
            out["nll_per_char"] = nll
            out["perplexity"] = math.exp(min(nll, 50.0))
        if "exact" in stats and "n" in stats and float(stats["n"].item()):
            out["exact"] = float(stats["exact"].item()) / float(stats["n"].item())
        return out

    # -- the line printed after each epoch ------------------------------------
    def epoch_report(self, model: nn.Module, bundle: DataBundle, device: torch.device) -> str | None:
        """``predicted: ohlol`` as the notes print it; in text mode, a short greedy sample."""
        meta = bundle.meta
        if "vocab" not in meta:
            return None
        vocab = Vocabulary(meta["vocab"])
        split = bundle.val if meta.get("mode") == "text" and bundle.val is not None else bundle.train
        if not isinstance(split, TensorSplit) or len(split) == 0:
            return None
        model = getattr(model, "module", model)  # the bare model, even when wrapped for DDP
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                first = split.x[:1].to(device)
                if meta.get("mode") == "text":
                    prefix = first[0].tolist()
                    context = int(meta.get("seq_len") or len(prefix))
                    more = generate(model, prefix, SAMPLE_CHARS, context, 0.0, None, device)
                    return f"sample: {vocab.decode(prefix)!r} -> {vocab.decode(more)!r}"
                guess = vocab.decode(model(first).argmax(dim=-1)[0].tolist())
        finally:
            model.train(was_training)
        if len(split) > 1:
            source = vocab.decode(first[0].tolist())
            return f"predicted: {guess} (for {source!r}, first of {len(split)} pairs)"
        return f"predicted: {guess}"

    # -- zoo predict ----------------------------------------------------------
    def predict(
        self,
        model: nn.Module,
        inputs: list[str],
        meta: dict[str, Any],
        options: dict[str, Any],
        device: torch.device,
    ) -> list[dict[str, Any]]:
        """Per-position predictions of each input, or ``--generate N`` sampled characters.

        ``--csv FILE`` adds every non-empty line of FILE as one more input.
        """
        if "vocab" not in meta:
            raise UsageError("this checkpoint has no vocabulary in its metadata, so inputs cannot be read")
        vocab = _vocabulary(meta)
        mode = _mode(meta)
        _length(meta)
        top = _optional_int(options.get("top"), "--top", minimum=1)
        check_range("--top", top, 1, len(vocab))  # the vocabulary: more characters cannot be shown
        count = _optional_int(options.get("generate"), "--generate", minimum=0)
        if count is not None and count > MAX_GENERATE:
            raise UsageError(
                f"--generate must be at most {MAX_GENERATE:,} characters, got {count:,}",
                hint="generate a longer text in several runs",
            )
        temperature = _temperature(options.get("temperature"))
        if count is not None and mode != "text":
            raise UsageError(
                "--generate continues a text, but this model was trained on input/target pairs",
                hint="train a next-character model with --text FILE to generate",
            )
        if options.get("csv"):
            inputs = [*inputs, *_lines(options["csv"])]
        seed = int(options.get("seed") or 0)  # the CLI has no --seed for predict: 0 unless set here
        generator = torch.Generator().manual_seed(seed)
        was_training = model.training
        model.eval()
        try:
            results = []
            for text in inputs:
                if not text:
                    raise UsageError("an input is empty: give at least one character")
                ids = vocab.encode(text)
                if count is not None:
                    context = int(meta.get("seq_len") or len(ids))
                    more = vocab.decode(generate(model, ids, count, context, temperature, generator, device))
                    results.append(
                        {
                            "input": text,
                            "output": text + more,
                            "generated": more,
                            "temperature": temperature,
                            "seed": seed,
                        }
                    )
                else:
                    results.append(_positions(model, text, ids, vocab, top, device, mode))
        finally:
            model.train(was_training)
        return results

    def transforms(self, meta: dict[str, Any]) -> Callable[[Any], torch.Tensor]:
        """A text -> its characters' indices in the vocabulary, ``(T,)`` int64: what the model reads."""
        if "vocab" not in meta:
            raise UsageError("this checkpoint has no vocabulary in its metadata, so inputs cannot be read")
        vocab = _vocabulary(meta)

        def transform(text: Any) -> torch.Tensor:
            if not isinstance(text, str) or not text:
                raise UsageError(f"a character model reads non-empty text, got {str(text)[:40]!r}")
            return torch.tensor(vocab.encode(text), dtype=torch.int64)

        return transform

    def decode(
        self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """``(B, T, V)`` scores -> per sequence the likeliest characters, as ``zoo predict`` shows them.

        ``--generate`` samples new characters one forward pass at a time, so it needs the model,
        not a batch of outputs: it stays in ``predict``.
        """
        if "vocab" not in meta:
            raise UsageError("this checkpoint has no vocabulary in its metadata, so outputs cannot be read")
        if options.get("generate") is not None:
            raise UsageError("--generate runs the model again for every character: use predict, not decode")
        vocab = _vocabulary(meta)
        top = _optional_int(options.get("top"), "--top", minimum=1)
        check_range("--top", top, 1, len(vocab))
        if outputs.dim() != 3 or outputs.shape[-1] != len(vocab):
            raise UsageError(
                f"expected (batch, length, {len(vocab)}) scores from a character model, "
                f"got {tuple(outputs.shape)}"
            )
        probs = torch.softmax(outputs.detach().float(), dim=-1).cpu().tolist()
        return [_read_positions(row, vocab, top, _mode(meta)) for row in probs]

    # -- export and serving -----------------------------------------------------
    def example_batch(
        self, meta: dict[str, Any], batch: int = 2, model: nn.Module | None = None
    ) -> torch.Tensor:
        """``(batch, T)`` character indices, T the training window (or pair) length."""
        if "vocab" not in meta:
            raise UsageError("this checkpoint has no vocabulary in its metadata, so it cannot be exported")
        g = torch.Generator().manual_seed(0)
        return torch.randint(0, len(_vocabulary(meta)), (batch, _length(meta)), generator=g)

    def input_form(self, meta: dict[str, Any]) -> dict[str, Any]:
        """A text box; generation only for next-character (text mode) models."""
        example = _examples(meta)
        vocab = _vocabulary(meta).chars if "vocab" in meta else []
        _length(meta)
        return {
            "kind": "text",
            "generate": _mode(meta) == "text",
            "vocab": "".join(vocab),
            "example": example[0] if example else "",
        }

    def preprocessing(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Characters become their index in the vocabulary; the export's T is fixed."""
        vocab = _vocabulary(meta).chars if "vocab" in meta else []
        return {"vocab": vocab, "encoding": "index of each character in vocab"}


class StepSumAdapter(SeqAdapter):
    """The RNNCell model's loss: cross-entropy per step, added up over the steps (notes 11.1)."""

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        per_position = F.cross_entropy(outputs.float().transpose(1, 2), targets, reduction="none")
        return per_position.mean(dim=0).sum()


# -- helpers ------------------------------------------------------------------
@torch.no_grad()
def generate(
    model: nn.Module,
    prefix: list[int],
    count: int,
    context: int,
    temperature: float,
    generator: torch.Generator | None,
    device: torch.device,
) -> list[int]:
    """``count`` more indices after ``prefix``; temperature 0 picks the likeliest each time.

    The model sees the last ``context`` characters, as long as its training windows,
    so it always starts from the zero state it was trained from. Sampling runs on
    the CPU with ``generator`` so a seed gives the same text on every device.
    """
    ids = list(prefix)
    for _ in range(count):
        window = torch.tensor([ids[-context:]], dtype=torch.int64, device=device)
        logits = model(window)[0, -1].float().cpu()
        if temperature <= 0:
            ids.append(int(logits.argmax()))
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            ids.append(int(torch.multinomial(probs, 1, generator=generator)))
    return ids[len(prefix) :]


@torch.no_grad()
def _positions(
    model: nn.Module,
    text: str,
    ids: list[int],
    vocab: Vocabulary,
    top: int | None,
    device: torch.device,
    mode: str,
) -> dict[str, Any]:
    """The likeliest character at each position, with its probability and distribution."""
    x = torch.tensor([ids], dtype=torch.int64, device=device)
    probs = torch.softmax(model(x)[0].float(), dim=-1).cpu()
    read = _read_positions(probs.tolist(), vocab, top, mode)
    read["positions"] = [
        {"input": source, **position} for source, position in zip(text, read["positions"], strict=True)
    ]
    return {"input": text, **read}


def _read_positions(
    probs: list[list[float]], vocab: Vocabulary, top: int | None, mode: str
) -> dict[str, Any]:
    """One sequence's per-position probabilities as characters: ``output``, ``positions`` (and ``next``)."""
    positions: list[dict[str, Any]] = []
    for row in probs:
        order = sorted(range(len(row)), key=lambda i: -row[i])
        best = order[0]
        shown = order[:top] if top else order
        positions.append(
            {
                "char": vocab.chars[best],
                "probability": round(row[best], 6),
                "distribution": {vocab.chars[i]: round(row[i], 6) for i in shown},
            }
        )
    output = "".join(p["char"] for p in positions)
    result: dict[str, Any] = {"output": output, "positions": positions}
    if mode == "text":
        result["next"] = positions[-1]["char"]
    return result


def _optional_int(value: Any, flag: str, minimum: int) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise UsageError(f"{flag} must be at least {minimum}, got {number}")
    return number


def _temperature(value: Any) -> float:
    if value is None:
        return 1.0
    try:
        temperature = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"--temperature must be a number, got {value!r}") from None
    if not math.isfinite(temperature) or temperature < 0:
        raise UsageError(f"--temperature must be 0 (greedy) or more, got {value!r}")
    return temperature


def _lines(name: str) -> list[str]:
    path = find_file(name, None, "csv")
    return [line.rstrip("\r") for line in read_utf8(path).split("\n") if line.rstrip("\r")]


# -- the checkpoint's data_meta, read field by field (a ValueError names a damaged one) --
def _vocabulary(meta: dict[str, Any]) -> Vocabulary:
    chars = meta.get("vocab")
    if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
        raise ValueError(f"data_meta.vocab must be a list of characters, got {str(chars)[:60]}")
    try:
        return Vocabulary(chars)
    except ValueError as exc:
        raise ValueError(f"data_meta.vocab: {exc}") from None


def _mode(meta: dict[str, Any]) -> str:
    mode = meta.get("mode", "pairs")
    if mode not in MODES:
        raise ValueError(f"data_meta.mode must be one of {', '.join(MODES)}, got {str(mode)[:40]}")
    return str(mode)


def _examples(meta: dict[str, Any]) -> list[str]:
    example = meta.get("example") or []
    if not isinstance(example, list) or not all(isinstance(e, str) for e in example):
        raise ValueError(f"data_meta.example must be a list of strings, got {str(example)[:60]}")
    return example


def _length(meta: dict[str, Any]) -> int:
    """The training window: ``seq_len``, else the example pair's length, else 8; bounded."""
    value = meta.get("seq_len")
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEQ_LEN
    ):
        raise ValueError(
            f"data_meta.seq_len must be a whole number from 0 to {MAX_SEQ_LEN:,}, got {str(value)[:40]}"
        )
    example = _examples(meta)
    length = value or (len(example[0]) if example else 0) or 8
    if length > MAX_SEQ_LEN:
        raise ValueError(f"data_meta.example is longer than {MAX_SEQ_LEN:,} characters")
    return length
