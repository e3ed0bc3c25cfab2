"""The seq.chars loader: the seed pair, the user's pairs, text windows, and every bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from zoo.plugin import DataBundle, DataError, DataRequest, TensorSplit, UsageError

from zoo_seq.data import load
from zoo_seq.plugin import DATA_OPTIONS


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative file names resolve against the working directory, as on the command line."""
    monkeypatch.chdir(tmp_path)


def bundle(tmp_path: Path, **options: Any) -> DataBundle:
    return load(DataRequest(options={**DATA_OPTIONS, **options}, data_dir=tmp_path / "data-dir"))


def split(b: DataBundle, which: str = "train") -> TensorSplit:
    part = getattr(b, which)
    assert isinstance(part, TensorSplit)
    return part


def test_default_is_the_seed_pair_with_the_notes_vocabulary(tmp_path: Path) -> None:
    b = bundle(tmp_path)
    assert b.meta["mode"] == "pairs" and b.meta["source"] == "seed"
    assert b.meta["vocab"] == ["e", "h", "l", "o"]  # idx2char in the notes
    assert b.config == {"vocab_size": 4}
    assert split(b).x.tolist() == [[1, 0, 2, 2, 3]]  # hello
    assert split(b).y.tolist() == [[3, 1, 2, 3, 2]]  # ohlol
    assert split(b).x.dtype == torch.int64 and b.val is None


def test_input_and_target_options_build_their_own_vocabulary(tmp_path: Path) -> None:
    b = bundle(tmp_path, input="abc", target="cab")
    assert b.meta["vocab"] == ["a", "b", "c"] and b.config == {"vocab_size": 3}
    assert split(b).x.tolist() == [[0, 1, 2]] and split(b).y.tolist() == [[2, 0, 1]]


def test_pairs_file_skips_blank_lines_and_handles_crlf_and_unicode(tmp_path: Path) -> None:
    (tmp_path / "p.tsv").write_bytes("\ufeffgrüß\tßürg\r\n\r\nabcd\tdcba\r\n".encode())
    b = bundle(tmp_path, data="p.tsv")
    assert split(b).x.shape == (2, 4)
    assert b.meta["vocab"] == sorted(set("grüßabcd"))
    assert "".join(b.meta["vocab"][i] for i in split(b).y[0]) == "ßürg"


def test_relative_file_falls_back_to_the_data_dir(tmp_path: Path) -> None:
    (tmp_path / "data-dir").mkdir()
    (tmp_path / "data-dir" / "p.tsv").write_text("ab\tba\n", encoding="utf-8")
    assert split(bundle(tmp_path, data="p.tsv")).x.tolist() == [[0, 1]]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"hello\tohlo\n", "line 1: input 'hello' has 5 characters but target 'ohlo' has 4"),
        (b"ab\tba\nhello ohlol\n", "line 2: expected one pair as input<TAB>target, found no tab"),
        (b"a\tb\tc\n", "line 1: expected one pair as input<TAB>target, found 2 tabs"),
        (b"\tx\n", "line 1: the input is empty"),
        (b"ab\tba\n\nabc\tcba\n", "line 3: pair has 3 characters but the pair on line 1 has 2"),
        (b"", "file is empty"),
        (b"\n \n", "file holds only whitespace"),
        (b"ab\tba\nh\xe9llo\tohlol\n", "line 2, column 2: not valid UTF-8: byte 0xe9 at byte offset 7"),
        ("é".encode() + b"\xff", "line 1, column 2: not valid UTF-8: byte 0xff at byte offset 2"),
    ],
)
def test_bad_pairs_files_are_located(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "bad.tsv").write_bytes(content)
    with pytest.raises(DataError) as info:
        bundle(tmp_path, data=str(tmp_path / "bad.tsv"))
    assert str(info.value).startswith(f"{tmp_path / 'bad.tsv'}, " if "line" in expected else str(tmp_path))
    assert expected in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope.tsv: file not found"):
        bundle(tmp_path, data="nope.tsv")
    with pytest.raises(DataError, match="is a folder"):
        bundle(tmp_path, text=str(tmp_path))


def test_option_mistakes_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="input 'hello' has 5 characters but target 'ohl' has 3"):
        bundle(tmp_path, input="hello", target="ohl")
    with pytest.raises(UsageError, match="--target is missing"):
        bundle(tmp_path, input="hello")
    with pytest.raises(UsageError, match="--input is missing"):
        bundle(tmp_path, target="ohlol")
    (tmp_path / "t.txt").write_text("x" * 100, encoding="utf-8")
    with pytest.raises(UsageError, match="does not combine"):
        bundle(tmp_path, text="t.txt", input="a", target="b")
    with pytest.raises(UsageError, match="not both"):
        bundle(tmp_path, data="t.txt", input="a", target="b")
    with pytest.raises(UsageError, match="--seq-len must be a whole number >= 1"):
        bundle(tmp_path, text="t.txt", seq_len=0)
    with pytest.raises(UsageError, match="--val-fraction"):
        bundle(tmp_path, text="t.txt", val_fraction=1.0)


def test_text_mode_windows_and_held_out_end(tmp_path: Path) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(200))
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    b = bundle(tmp_path, text="t.txt", seq_len=8, val_fraction=0.25)
    vocab = b.meta["vocab"]
    assert b.meta["mode"] == "text" and b.meta["seq_len"] == 8 and len(vocab) == 26
    train, val = split(b), split(b, "val")
    assert b.meta["train_chars"] == 150 and b.meta["val_chars"] == 50
    assert train.x.shape == (18, 8) and val.x.shape == (6, 8)  # (150-1)//8, (50-1)//8
    # targets are the inputs shifted by one character
    assert torch.equal(train.x[:, 1:], train.y[:, :-1])

    def decode(row: list[int]) -> str:
        return "".join(vocab[i] for i in row)

    assert decode(train.x[1].tolist()) + decode(train.y[1].tolist())[-1] == text[8:17]
    assert decode(val.x[0].tolist()) == text[150:158]  # validation comes from the held-out end only


def test_text_mode_stride_and_no_validation(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("abcdefghij" * 3, encoding="utf-8")
    b = bundle(tmp_path, text="t.txt", seq_len=4, stride=1, val_fraction=0.0)
    assert b.val is None and split(b).x.shape == (26, 4)


def test_text_too_short_for_the_windows(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("short text", encoding="utf-8")
    with pytest.raises(DataError, match="has 10 characters, too few") as info:
        bundle(tmp_path, text="t.txt")
    assert "at least 34 characters" in str(info.value)
