"""Tensors of the Open Inference Protocol: one input read from a request and checked before it joins a batch.

A request's JSON header (and, in the binary tensor extension, the bytes after it) becomes
one tensor of the model's declared type and shape; its size is bounded by MAX_ELEMENTS,
checked from the declared shape before any data is read, and its values (token indices,
finite floats) are checked so that a bad request fails alone, never the batch it joins.
"""

from __future__ import annotations

import math
import re
import weakref
from typing import Any

import numpy as np
import torch

from zoo.errors import UsageError
from zoo.serve.http import parse
from zoo.serve.models import Signature

#: Most tensor elements one request may hold (a batch of 1,337 MNIST images).
MAX_ELEMENTS = 1 << 20
#: numpy's little-endian types for the v2 datatypes zoo accepts as input.
NUMPY = {
    "FP32": "<f4",
    "FP64": "<f8",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "i1",
    "UINT8": "u1",
    "BOOL": "?",
}
HINT = '{"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [...]}]}'
#: Inference-Header-Content-Length: plain ASCII digits, few enough to be a length at all.
HEADER_LENGTH = re.compile(r"[0-9]{1,12}")
#: Token limits found in served modules (the smallest embedding table), computed once per module.
_TOKEN_LIMITS: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()


def read_infer(body: bytes, header_length: str | None, sig: Signature | None) -> tuple[dict[str, Any], torch.Tensor]:
    """The request's JSON header and its one input as a tensor, checked against ``sig``."""
    if sig is None:
        raise UsageError("this model has no tensor signature; use /v1")
    if header_length is not None:
        if not HEADER_LENGTH.fullmatch(header_length) or int(header_length) > len(body):
            shown = header_length[:20].encode("ascii", "backslashreplace").decode()
            raise UsageError(f"Inference-Header-Content-Length {shown!r} is not a length within the body")
        size = int(header_length)
        head, binary = body[:size], body[size:]
    else:
        head, binary = body, b""
    header = parse(head, "the inference request", HINT)
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise UsageError('an inference request is a JSON object with a list "inputs"', hint=HINT)
    inputs = header["inputs"]
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise UsageError(f"this model takes one input, named 'input'; the request has {len(inputs)}", hint=HINT)
    item = inputs[0]
    if item.get("name") != "input":
        raise UsageError(f"this model's input is named 'input', not {str(item.get('name'))[:40]!r}")
    if item.get("datatype") != sig.input_dtype:
        raise UsageError(f"input 'input' must be {sig.input_dtype}, not {str(item.get('datatype'))[:20]}")
    shape = _shape(item.get("shape"), sig.input_shape)
    count = math.prod(shape)
    if sig.input_dtype not in NUMPY:
        raise UsageError(f"inputs of type {sig.input_dtype} cannot be sent to /v2 yet; use /v1")
    dtype = np.dtype(NUMPY[sig.input_dtype])
    params = item.get("parameters")
    params = params if isinstance(params, dict) else {}
    if "binary_data_size" in params:
        size = params["binary_data_size"]
        if size != count * dtype.itemsize or size != len(binary):
            raise UsageError(
                f"input 'input' of shape {shape} needs {count * dtype.itemsize} bytes of {sig.input_dtype}; "
                f"binary_data_size is {str(size)[:20]} and the body holds {len(binary)} after the header"
            )
        array = np.frombuffer(binary, dtype=dtype).copy()
    else:
        data = item.get("data")
        if not isinstance(data, list):
            raise UsageError("input 'input' needs its values as a list \"data\" (or binary_data_size)", hint=HINT)
        try:
            array = np.asarray(data, dtype=dtype.newbyteorder("="))
        except (ValueError, TypeError, OverflowError):
            raise UsageError(f"input 'input' data must be {sig.input_dtype} numbers in nested lists") from None
        if array.size != count:
            raise UsageError(f"input 'input' has shape {shape} ({count} values) but its data holds {array.size}")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return header, torch.from_numpy(array.reshape(shape))


def token_limit(module: Any) -> int | None:
    """The number of rows of the smallest embedding table in ``module``: integer inputs index it."""
    if module is None:
        return None
    try:
        return _TOKEN_LIMITS[module]
    except (KeyError, TypeError):
        pass
    sizes = [
        int(m.num_embeddings) for m in module.modules() if isinstance(m, torch.nn.Embedding | torch.nn.EmbeddingBag)
    ]
    limit = min(sizes) if sizes else None
    try:
        _TOKEN_LIMITS[module] = limit
    except TypeError:
        pass
    return limit


def check_values(x: torch.Tensor, tokens: int | None) -> None:
    """Refuse values the model cannot take before the request joins a batch with others.

    Integers index embedding tables (0 to ``tokens`` - 1, never negative); floating-point
    inputs are finite. A bad request then fails alone, never the batch it would have joined.
    """
    if x.numel() == 0 or x.dtype == torch.bool:
        return
    if x.is_floating_point():
        bad = ~torch.isfinite(x)
        if bool(bad.any()):
            where = int(bad.reshape(-1).nonzero()[0])
            raise UsageError(f"input 'input' holds a non-finite value at flat position {where}; send finite numbers")
        return
    high = None if tokens is None else tokens - 1
    bad = (x < 0) if high is None else (x < 0) | (x > high)
    if bool(bad.any()):
        where = int(bad.reshape(-1).nonzero()[0])
        value = int(x.reshape(-1)[where])
        allowed = "0 or more" if high is None else f"0 to {high}"
        raise UsageError(f"input 'input' holds token index {value} at flat position {where}; the model takes {allowed}")


def _shape(value: Any, expected: list[int]) -> list[int]:
    ok = isinstance(value, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in value)
    if not ok:
        raise UsageError("input 'input' needs a shape: a list of whole numbers", hint=HINT)
    if len(value) != len(expected) or any(e != -1 and d != e for d, e in zip(value, expected, strict=True)):
        raise UsageError(f"input 'input' must have shape {expected} (-1: any batch size), got {value[:8]}")
    if value[0] < 1:
        raise UsageError(f"input 'input' needs a batch of at least 1, got shape {value[:8]}")
    count = math.prod(value)
    if count > MAX_ELEMENTS:
        raise UsageError(
            f"input 'input' of shape {value[:8]} holds {count:,} values; the limit per request is {MAX_ELEMENTS:,}",
            hint="send smaller batches",
        )
    return value
