"""``zoo predict``'s options for a character model, checked, and its outputs read as characters.

``--top`` is bounded by the vocabulary; ``--generate`` and ``--temperature`` only make
sense for a next-character (text mode) model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from zoo.plugin import UsageError, check_range

from zoo_seq import seqmeta
from zoo_seq.vocab import Vocabulary


def read_generated(outputs: torch.Tensor, vocab: Vocabulary, options: dict[str, Any]) -> list[dict[str, Any]]:
    """``(B, T + N)`` indices as ``output`` (input and continuation) and ``generated`` (the N new ones)."""
    count = int(options["generate"])
    if outputs.dim() != 2 or outputs.dtype != torch.int64 or outputs.shape[1] < count:
        raise UsageError(
            "--generate runs the model again for every character: decode reads the indices "
            f"predict_module's loop returns, (batch, length + {count}), got {tuple(outputs.shape)}"
        )
    temperature, seed = check_temperature(options.get("temperature")), int(options.get("seed") or 0)
    results = []
    for ids in outputs.tolist():
        more = vocab.decode(ids[len(ids) - count :])
        results.append(
            {"output": vocab.decode(ids), "generated": more, "temperature": temperature, "seed": seed}
        )
    return results


def generation_options(meta: dict[str, Any], options: dict[str, Any]) -> tuple[int | None, float]:
    """``--generate``'s count (None: per-position predictions) and temperature, checked against the model."""
    vocab = seqmeta.vocabulary(meta)
    top = whole_number(options.get("top"), "--top", minimum=1)
    check_range("--top", top, 1, len(vocab))  # the vocabulary: more characters cannot be shown
    count = whole_number(options.get("generate"), "--generate", minimum=0)
    temperature = check_temperature(options.get("temperature"))
    if count is not None and seqmeta.mode(meta) != "text":
        raise UsageError(
            "--generate continues a text, but this model was trained on input/target pairs",
            hint="train a next-character model with --text FILE to generate",
        )
    return count, temperature


def read_positions(probs: list[list[float]], vocab: Vocabulary, top: int | None, mode: str) -> dict[str, Any]:
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


def whole_number(value: Any, flag: str, minimum: int) -> int | None:
    """An optional whole-number option of at least ``minimum``; None when not given."""
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise UsageError(f"{flag} must be at least {minimum}, got {number}")
    return number


def check_temperature(value: Any) -> float:
    """``--temperature``: 0 (greedy) or more, 1 when not given."""
    if value is None:
        return 1.0
    try:
        temperature = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"--temperature must be a number, got {value!r}") from None
    if not math.isfinite(temperature) or temperature < 0:
        raise UsageError(f"--temperature must be 0 (greedy) or more, got {value!r}")
    return temperature
