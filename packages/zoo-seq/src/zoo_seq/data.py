"""The ``seq.chars`` dataset: character pairs, or next-character windows of a text.

Two modes, chosen by the options the user gives:

* pairs (the notes' task): each input character maps to the target character at
  the same position. The seed pair ``hello -> ohlol`` ships with the plugin and is
  the default; ``--input/--target`` give one pair, ``--data FILE`` many
  (``input<TAB>target`` per line). Every pair is training data and is also what the
  run is evaluated on: the goal is to learn the mapping exactly.
* text (``--text FILE``): windows of ``--seq-len`` characters whose target is the
  same window shifted by one, so the model learns to predict the next character.
  The end of the file is held out (``--val-fraction``) for evaluation.

Either way the vocabulary is built from the data and stored in ``meta``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch
from zoo.plugin import DataBundle, DataError, DataRequest, TensorSplit, UsageError

from zoo_seq.files import find_file, read_utf8
from zoo_seq.vocab import Vocabulary

SEED_FILE = "hello.tsv"

Pair = tuple[str, str]


def load(request: DataRequest) -> DataBundle:
    """Build the bundle for whichever mode the options select."""
    options = request.options
    text_file = str(options.get("text") or "")
    data_file = str(options.get("data") or "")
    given_input = str(options.get("input") or "")
    given_target = str(options.get("target") or "")

    if text_file:
        if data_file or given_input or given_target:
            raise UsageError(
                "--text trains a next-character model; it does not combine with --data/--input/--target"
            )
        path = find_file(text_file, request.data_dir, "text")
        return text_bundle(
            read_utf8(path, "the --text file"),
            source=Path(path).name,
            seq_len=_int_option(options, "seq_len", 16, minimum=1),
            stride=_int_option(options, "stride", 0, minimum=0),
            val_fraction=_val_fraction(options),
        )
    if data_file:
        if given_input or given_target:
            raise UsageError("give either --data FILE or --input/--target, not both")
        path = find_file(data_file, request.data_dir, "data")
        return pairs_bundle(parse_pairs(read_utf8(path, "the --data file"), path), source=Path(path).name)
    if given_input or given_target:
        if not (given_input and given_target):
            missing = "--target" if given_input else "--input"
            raise UsageError(f"{missing} is missing: --input and --target come together")
        check_pair(given_input, given_target)
        return pairs_bundle([(given_input, given_target)], source="command line")
    seed = resources.files("zoo_seq").joinpath(SEED_FILE).read_text(encoding="utf-8")
    return pairs_bundle(parse_pairs(seed, SEED_FILE), source="seed")


# -- pairs ------------------------------------------------------------------
def check_pair(source: str, target: str, path: str | Path | None = None, line: int | None = None) -> None:
    """Input and target must be non-empty and equally long: one target per input character."""
    if not source:
        raise DataError("the input is empty", path, line, hint="write the pair as input<TAB>target")
    if len(source) != len(target):
        raise DataError(
            f"input {source!r} has {len(source)} characters but target {target!r} has {len(target)}",
            path,
            line,
            hint="each target character is the answer for the input character at the same position",
        )


def parse_pairs(text: str, path: str | Path) -> list[Pair]:
    """``input<TAB>target`` lines; blank lines are skipped, all pairs equally long."""
    pairs: list[Pair] = []
    first_line = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line:
            continue
        tabs = line.count("\t")
        if tabs != 1:
            found = "no tab" if tabs == 0 else f"{tabs} tabs"
            raise DataError(
                f"expected one pair as input<TAB>target, found {found}",
                path,
                number,
                hint="separate input and target with a single tab character",
            )
        source, target = line.split("\t")
        check_pair(source, target, path, number)
        if pairs and len(source) != len(pairs[0][0]):
            raise DataError(
                f"pair has {len(source)} characters but the pair on line {first_line} has {len(pairs[0][0])}",
                path,
                number,
                hint="the pairs are stacked into one tensor, so they must be equally long",
            )
        if not pairs:
            first_line = number
        pairs.append((source, target))
    if not pairs:
        raise DataError("holds no input<TAB>target pair", path)
    return pairs


def pairs_bundle(pairs: list[Pair], source: str) -> DataBundle:
    """All pairs as one training split; evaluation is on the same pairs."""
    vocab = Vocabulary.from_texts(text for pair in pairs for text in pair)
    x = torch.tensor([vocab.encode(a) for a, _ in pairs], dtype=torch.int64)
    y = torch.tensor([vocab.encode(b) for _, b in pairs], dtype=torch.int64)
    first = pairs[0]
    count = f"{len(pairs)} pairs" if len(pairs) > 1 else "1 pair"
    return DataBundle(
        train=TensorSplit(x, y),
        val=None,
        meta={"mode": "pairs", "vocab": vocab.chars, "source": source, "example": list(first)},
        config={"vocab_size": len(vocab)},
        description=f"{count} of {len(first[0])} characters ({first[0]!r} -> {first[1]!r}), "
        f"vocabulary {''.join(vocab.chars)!r}",
    )


# -- text -------------------------------------------------------------------
def windows(ids: torch.Tensor, seq_len: int, stride: int) -> TensorSplit:
    """Inputs ``ids[s : s+seq_len]`` and targets shifted by one, every ``stride`` characters."""
    chunks = ids.unfold(0, seq_len + 1, stride)
    return TensorSplit(chunks[:, :-1].contiguous(), chunks[:, 1:].contiguous())


def text_bundle(text: str, source: str, seq_len: int, stride: int, val_fraction: float) -> DataBundle:
    """Train on the start of the text, evaluate on its held-out end."""
    stride = stride or seq_len
    need = seq_len + 1
    n_val = max(int(len(text) * val_fraction), need) if val_fraction > 0 else 0
    if len(text) - n_val < need:
        least = need + (need if val_fraction > 0 else 0)
        raise DataError(
            f"has {len(text)} characters, too few for windows of --seq-len {seq_len}"
            + (" plus a held-out part" if val_fraction > 0 else ""),
            source,
            hint=f"use a text of at least {least} characters or a smaller --seq-len",
        )
    vocab = Vocabulary.from_texts([text])
    ids = torch.tensor(vocab.encode(text), dtype=torch.int64)
    cut = len(text) - n_val
    train = windows(ids[:cut], seq_len, stride)
    val = windows(ids[cut:], seq_len, seq_len) if n_val else None
    held = f", {len(val)} held-out windows" if val is not None else ""
    return DataBundle(
        train=train,
        val=val,
        meta={
            "mode": "text",
            "vocab": vocab.chars,
            "source": source,
            "seq_len": seq_len,
            "stride": stride,
            "train_chars": cut,
            "val_chars": n_val,
        },
        config={"vocab_size": len(vocab)},
        description=f"{Path(source).name}: {len(text)} characters, vocabulary of {len(vocab)}, "
        f"{len(train)} training windows of {seq_len}{held}",
    )


# -- options ----------------------------------------------------------------
def _int_option(options: dict[str, Any], name: str, default: int, minimum: int) -> int:
    value = options.get(name, default)
    if value is None:
        value = default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"--{name.replace('_', '-')} must be a whole number, got {value!r}") from None
    if number < minimum or number != float(value):
        raise UsageError(f"--{name.replace('_', '-')} must be a whole number >= {minimum}, got {value!r}")
    return number


def _val_fraction(options: dict[str, Any]) -> float:
    value = options.get("val_fraction", 0.1)
    try:
        fraction = float(0.1 if value is None else value)
    except (TypeError, ValueError):
        raise UsageError(f"--val-fraction must be a number, got {value!r}") from None
    if not 0.0 <= fraction < 1.0:
        raise UsageError(f"--val-fraction must be at least 0 and below 1, got {fraction}")
    return fraction
