"""Property-based checks: untrusted bytes and text give a result or a ZooError, never another exception."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zoo.contracts.adapter import parse_numbers
from zoo.contracts.metadata import SCHEMA, check_zoo, decode
from zoo.contracts.options import coerce
from zoo.errors import CheckpointError, UsageError
from zoo.files.safefile import read_header

STABLE = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FLOAT32_MAX = 3.4028234663852886e38


def headers() -> st.SearchStrategy[bytes]:
    """Raw files: random bytes, and length-prefixed JSON-ish headers that get further."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
    framed = st.tuples(json_values, st.binary(max_size=64)).map(
        lambda pair: (lambda h: len(h).to_bytes(8, "little") + h + pair[1])(json.dumps(pair[0]).encode())
    )
    return st.binary(max_size=200) | framed


@STABLE
@given(data=headers())
@example(data=b"\x80\x04junk")
@example(data=(12).to_bytes(8, "little") + b'{"a":{"dtype":"F32"}}')
def test_read_header_gives_a_result_or_a_checkpoint_error(tmp_path: Path, data: bytes):
    path = tmp_path / "any.safetensors"
    path.write_bytes(data)
    try:
        entries, meta = read_header(path)
    except CheckpointError:
        return
    assert isinstance(entries, dict) and all(isinstance(v, str) for v in meta.values())


@STABLE
@given(
    raw=st.dictionaries(
        st.sampled_from(sorted(SCHEMA)) | st.text(max_size=8),
        st.text(max_size=40)
        | st.sampled_from(["[]", "{}", "1", "-1", "true", "null", '"zoo"', "[" * 40, "2", "1e999"]),
        max_size=8,
    )
)
def test_metadata_decode_gives_a_dict_or_a_checkpoint_error(raw: dict[str, str]):
    try:
        meta = decode(raw, "x.safetensors")
        check_zoo(meta, "x.safetensors")
    except CheckpointError:
        return
    assert isinstance(meta, dict) and meta["format"] == "zoo"


@STABLE
@given(text=st.text(max_size=40) | st.text(alphabet="0123456789.,-+eE_naif ", max_size=30))
@example(text="1,,2")
@example(text="1e39")
def test_parse_numbers_gives_finite_float32_values_or_a_usage_error(text: str):
    try:
        values = parse_numbers(text)
    except UsageError:
        return
    assert values and all(math.isfinite(v) and abs(v) <= FLOAT32_MAX for v in values)


@STABLE
@given(text=st.text(max_size=30), default=st.sampled_from([0, 1.0, False, True, 7, -2.5]))
@example(text="4_0", default=0)
@example(text="1" * 25, default=0)
@example(text="nan", default=1.0)
def test_coerce_gives_a_value_of_the_default_type_or_a_usage_error(text: str, default: Any):
    try:
        value = coerce("key", text, default)
    except UsageError:
        return
    assert type(value) is type(default)
    if isinstance(value, float):
        assert math.isfinite(value)


@pytest.mark.parametrize("text", ["1,,2", "nan", "inf", "1e999", "4_0", "-inf", ""])
def test_parse_numbers_names_the_position(text: str):
    with pytest.raises(UsageError, match="value"):
        parse_numbers(text)
