"""Character vocabularies: the bridge between strings and token indices.

A vocabulary is stored in every checkpoint (as a plain list of characters in
``DataBundle.meta``), so prediction maps characters exactly as training did.
Sorting the characters reproduces the notes' ``idx2char = ['e', 'h', 'l', 'o']``
for the seed pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from zoo.plugin import UsageError


class Vocabulary:
    """An ordered list of distinct characters and its reverse index."""

    def __init__(self, chars: Sequence[str]) -> None:
        if not chars:
            raise ValueError("a vocabulary needs at least one character")
        for ch in chars:
            if len(ch) != 1:
                raise ValueError(f"vocabulary entries must be single characters, got {ch!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be distinct")
        self.chars: list[str] = list(chars)
        self.index: dict[str, int] = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        """Every character that occurs in ``texts``, sorted by code point."""
        seen: set[str] = set()
        for text in texts:
            seen.update(text)
        return cls(sorted(seen))

    def __len__(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` outside the vocabulary, each once, in order of appearance."""
        missing: list[str] = []
        for ch in text:
            if ch not in self.index and ch not in missing:
                missing.append(ch)
        return missing

    def encode(self, text: str) -> list[int]:
        """Indices of ``text``; a usage error that lists every unknown character."""
        missing = self.unknown(text)
        if missing:
            listed = ", ".join(repr(ch) for ch in missing)
            raise UsageError(
                f"input {text!r} has characters outside the model's vocabulary: {listed}",
                hint=f"the model knows only {self.describe()}",
            )
        return [self.index[ch] for ch in text]

    def decode(self, indices: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in indices)

    def describe(self, limit: int = 60) -> str:
        """The vocabulary as a short readable list, for messages."""
        shown = " ".join(repr(ch) for ch in self.chars[:limit])
        more = len(self.chars) - limit
        return f"{len(self.chars)} characters: {shown}" + (f" (+{more} more)" if more > 0 else "")
