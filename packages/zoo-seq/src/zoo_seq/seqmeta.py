"""The checkpoint's ``data_meta`` for a character model, read field by field.

A checkpoint alone must be enough to turn strings into strings, so each field is
checked as it is read: a damaged one is a ValueError naming it, which zoo reports
against the checkpoint file.
"""

from __future__ import annotations

from typing import Any

from zoo_seq.vocab import Vocabulary

#: Longest ``data_meta.seq_len`` (the training window) an export traces with.
MAX_SEQ_LEN = 100_000
MODES = ("pairs", "text")


def vocabulary(meta: dict[str, Any]) -> Vocabulary:
    """The characters the model reads and writes, in index order."""
    chars = meta.get("vocab")
    if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
        raise ValueError(f"data_meta.vocab must be a list of characters, got {str(chars)[:60]}")
    try:
        return Vocabulary(chars)
    except ValueError as exc:
        raise ValueError(f"data_meta.vocab: {exc}") from None


def mode(meta: dict[str, Any]) -> str:
    """``pairs`` (input/target pairs) or ``text`` (next character); pairs when absent."""
    value = meta.get("mode", "pairs")
    if value not in MODES:
        raise ValueError(f"data_meta.mode must be one of {', '.join(MODES)}, got {str(value)[:40]}")
    return str(value)


def examples(meta: dict[str, Any]) -> list[str]:
    """The example inputs serve's form and export start from (may be empty)."""
    example = meta.get("example") or []
    if not isinstance(example, list) or not all(isinstance(e, str) for e in example):
        raise ValueError(f"data_meta.example must be a list of strings, got {str(example)[:60]}")
    return example


def length(meta: dict[str, Any]) -> int:
    """The training window: ``seq_len``, else the example pair's length, else 8; bounded."""
    value = meta.get("seq_len")
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEQ_LEN
    ):
        raise ValueError(
            f"data_meta.seq_len must be a whole number from 0 to {MAX_SEQ_LEN:,}, got {str(value)[:40]}"
        )
    example = examples(meta)
    window = value or (len(example[0]) if example else 0) or 8
    if window > MAX_SEQ_LEN:
        raise ValueError(f"data_meta.example is longer than {MAX_SEQ_LEN:,} characters")
    return window
