"""Trust regressions for zoo-seq: bounded --generate, configs contradicting the data, no local paths."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from safetensors import safe_open

RunZoo = Callable[..., subprocess.CompletedProcess[str]]
FOX = "the quick brown fox jumps over the lazy dog.\n" * 30


def test_generate_a_billion_characters_is_refused(text_run: tuple[Path, Path], run_zoo: RunZoo):
    work, run = text_run
    proc = run_zoo(
        "predict", str(run / "best.safetensors"), "the", "--generate", str(10**9), cwd=work, check=False
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--generate" in proc.stderr and "Traceback" not in proc.stderr


def test_vocab_size_smaller_than_the_data_is_a_usage_error(tmp_path: Path, run_zoo: RunZoo):
    proc = run_zoo(
        "train", "seq.rnn", "--vocab-size", "2", "--device", "cpu", "--quiet", cwd=tmp_path, check=False
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "vocab" in proc.stderr.lower()


def test_checkpoint_holds_no_absolute_text_path(tmp_path: Path, run_zoo: RunZoo):
    text = (tmp_path / "fox.txt").resolve()
    text.write_text(FOX, encoding="utf-8")
    run_zoo("train", "seq.embedding", "--recipe", "text", "--text", str(text), "--epochs", "1",
            "--device", "cpu", "--out", "run", "--quiet", cwd=tmp_path)  # fmt: skip
    with safe_open(str(tmp_path / "run" / "best.safetensors"), framework="pt") as fh:
        header = json.dumps(fh.metadata())
    assert str(tmp_path.resolve()) not in header
