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
from zoo.plugin import (
    DataBundle,
    ModelAdapter,
    PredictInput,
    TensorSplit,
    UsageError,
    check_range,
    evaluating,
)

from zoo_seq import seqmeta
from zoo_seq.decoding import generation_options, read_generated, read_positions, whole_number
from zoo_seq.files import find_file, read_utf8
from zoo_seq.generation import Generation as Generation
from zoo_seq.generation import generate as generate
from zoo_seq.seqmeta import MAX_SEQ_LEN as MAX_SEQ_LEN
from zoo_seq.seqmeta import MODES as MODES
from zoo_seq.vocab import Vocabulary

#: Characters of greedy continuation shown after each epoch in text mode.
SAMPLE_CHARS = 40


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
        with evaluating(model):
            first = split.x[:1].to(device)
            if meta.get("mode") == "text":
                prefix = first[0].tolist()
                context = int(meta.get("seq_len") or len(prefix))
                more = generate(model, prefix, SAMPLE_CHARS, context, 0.0, None, device)
                return f"sample: {vocab.decode(prefix)!r} -> {vocab.decode(more)!r}"
            guess = vocab.decode(model(first).argmax(dim=-1)[0].tolist())
        if len(split) > 1:
            source = vocab.decode(first[0].tolist())
            return f"predicted: {guess} (for {source!r}, first of {len(split)} pairs)"
        return f"predicted: {guess}"

    # -- zoo predict: inputs, the generating loop and decoding ---------------------
    def expand(self, inputs: list[Any], meta: dict[str, Any], options: dict[str, Any]) -> list[PredictInput]:
        """Each input text, then every non-empty line of ``--csv FILE``; options are checked first.

        Per-position results name the character each position read.
        """
        if "vocab" not in meta:
            raise UsageError("this checkpoint has no vocabulary in its metadata, so inputs cannot be read")
        seqmeta.length(meta)
        count, _ = generation_options(meta, options)
        texts = [*inputs, *_lines(options["csv"])] if options.get("csv") else list(inputs)
        if any(not text for text in texts):
            raise UsageError("an input is empty: give at least one character")
        return [
            PredictInput(text, text, {} if count is not None else {"positions": [{"input": c} for c in text]})
            for text in texts
        ]

    def predict_module(self, model: nn.Module, meta: dict[str, Any], options: dict[str, Any]) -> nn.Module:
        """The model itself, or with ``--generate N`` the sampling loop around it (seeded by ``seed``)."""
        count, temperature = generation_options(meta, options)
        if count is None:
            return model
        seed = int(options.get("seed") or 0)  # the CLI has no --seed for predict: 0 unless set here
        context = int(meta.get("seq_len") or 0)
        return Generation(model, count, context, temperature, torch.Generator().manual_seed(seed))

    def extra_steps(self, inputs: int, options: dict[str, Any]) -> int:
        """``--generate N`` runs the model N more times per input."""
        return int(options.get("generate") or 0) * inputs

    def transforms(self, meta: dict[str, Any]) -> Callable[[Any], torch.Tensor]:
        """A text -> its characters' indices in the vocabulary, ``(T,)`` int64: what the model reads."""
        if "vocab" not in meta:
            raise UsageError("this checkpoint has no vocabulary in its metadata, so inputs cannot be read")
        vocab = seqmeta.vocabulary(meta)

        def transform(text: Any) -> torch.Tensor:
            if not isinstance(text, str) or not text:
                raise UsageError(f"a character model reads non-empty text, got {str(text)[:40]!r}")
            return torch.tensor(vocab.encode(text), dtype=torch.int64)

        return transform

    def decode(
        self, outputs: torch.Tensor, meta: dict[str, Any], options: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """``(B, T, V)`` scores -> per sequence the likeliest characters, as ``zoo predict`` shows them.

        With ``--generate N`` the outputs are what :class:`Generation` returns: ``(B, T + N)``
        indices, each input followed by its continuation.
        """
        if "vocab" not in meta:
            raise UsageError("this checkpoint has no vocabulary in its metadata, so outputs cannot be read")
        vocab = seqmeta.vocabulary(meta)
        if options.get("generate") is not None:
            return read_generated(outputs, vocab, options)
        top = whole_number(options.get("top"), "--top", minimum=1)
        check_range("--top", top, 1, len(vocab))
        if outputs.dim() != 3 or outputs.shape[-1] != len(vocab):
            raise UsageError(
                f"expected (batch, length, {len(vocab)}) scores from a character model, "
                f"got {tuple(outputs.shape)}"
            )
        probs = torch.softmax(outputs.detach().float(), dim=-1).cpu().tolist()
        return [read_positions(row, vocab, top, seqmeta.mode(meta)) for row in probs]

    # -- export and serving -----------------------------------------------------
    def example_batch(
        self, meta: dict[str, Any], batch: int = 2, model: nn.Module | None = None
    ) -> torch.Tensor:
        """``(batch, T)`` character indices, T the training window (or pair) length."""
        if "vocab" not in meta:
            raise UsageError("this checkpoint has no vocabulary in its metadata, so it cannot be exported")
        g = torch.Generator().manual_seed(0)
        return torch.randint(0, len(seqmeta.vocabulary(meta)), (batch, seqmeta.length(meta)), generator=g)

    def input_form(self, meta: dict[str, Any]) -> dict[str, Any]:
        """A text box; generation only for next-character (text mode) models."""
        example = seqmeta.examples(meta)
        vocab = seqmeta.vocabulary(meta).chars if "vocab" in meta else []
        seqmeta.length(meta)
        return {
            "kind": "text",
            "generate": seqmeta.mode(meta) == "text",
            "vocab": "".join(vocab),
            "example": example[0] if example else "",
        }

    def preprocessing(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Characters become their index in the vocabulary; the export's T is fixed."""
        vocab = seqmeta.vocabulary(meta).chars if "vocab" in meta else []
        return {"vocab": vocab, "encoding": "index of each character in vocab"}


class StepSumAdapter(SeqAdapter):
    """The RNNCell model's loss: cross-entropy per step, added up over the steps (notes 11.1)."""

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        per_position = F.cross_entropy(outputs.float().transpose(1, 2), targets, reduction="none")
        return per_position.mean(dim=0).sum()


def _lines(name: str) -> list[str]:
    path = find_file(name, None, "csv")
    return [line.rstrip("\r") for line in read_utf8(path).split("\n") if line.rstrip("\r")]
