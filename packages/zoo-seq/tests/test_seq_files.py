"""The seq plugin's files (--text, --data, --csv): regular files only, within the text limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from zoo.plugin import NOT_REGULAR_FILES, DataError, not_regular_file

from zoo_seq.files import find_file, read_utf8


@pytest.mark.parametrize(("kind", "expected"), NOT_REGULAR_FILES)
def test_a_path_that_is_not_a_regular_file_is_named_for_what_it_is(tmp_path: Path, kind: str, expected: str):
    path = not_regular_file(tmp_path / "corpus.txt", kind)
    with pytest.raises(DataError) as info:
        find_file(str(path), None, "text")
    assert str(info.value).startswith(f"{path}: {expected}")
    assert "give --text a text file" in str(info.value)
    with pytest.raises(DataError) as info:  # read directly, the reader refuses it the same way
        read_utf8(path)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_the_data_dir_is_searched_for_a_name_that_is_not_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    os.mkfifo(tmp_path / "data" / "pipe.txt")
    with pytest.raises(DataError, match="pipe.txt: is a named pipe"):
        find_file("pipe.txt", tmp_path / "data", "csv")
    with pytest.raises(DataError, match=r"nope.txt: file not found \(looked in the working directory and in"):
        find_file("nope.txt", tmp_path / "data", "csv")


def test_text_beyond_the_limit_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "big.txt"
    path.write_bytes(b"abc\n" * (1 << 19))  # 2 MiB
    monkeypatch.setenv("ZOO_MAX_FILE_MB", "1")
    with pytest.raises(DataError) as info:
        read_utf8(path, "the --text file")
    assert str(info.value).startswith(f"{path}: is larger than the 1 MiB limit for the --text file")
    monkeypatch.setenv("ZOO_MAX_FILE_MB", "3")
    assert len(read_utf8(path, "the --text file")) == 2 << 20
