"""Uploaded pictures decoded ahead of the model's queue, in a bounded pool with a deadline per request.

A picture can cost seconds to decode; decoded on the model's worker thread, one bad
picture would hold every client of that model. So a model whose adapter reads uploads
itself (``ModelAdapter.read_upload``) gets them decoded here first: on one of THREADS
threads shared by every model, with at most WAITING requests in line (503 beyond), each
request given the server's ``--timeout`` to have all its pictures decoded (504 past it,
and its remaining pictures are not started). The plugin's decoder bounds each picture's
own CPU time; together the pictures of one request may declare MAX_REQUEST_PIXELS.
The model's worker then only frames and predicts.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from zoo.errors import UsageError, ZooError
from zoo.serve.errortable import Busy, TooSlow
from zoo.serve.inputs import Decoded, image_bytes, label
from zoo.serve.limits import MAX_INPUTS, MAX_REQUEST_PIXELS

#: Threads that decode pictures, shared by every served model.
THREADS = max(2, min(8, os.cpu_count() or 1))
#: Requests whose pictures may be decoding or waiting to; more get 503 at once.
WAITING = 8 * THREADS


class DecodeBusy(Exception):
    """Every decoding slot is taken."""


class DecodeTooSlow(Exception):
    """The request's pictures were not decoded within its deadline."""


class DecodePool:
    """THREADS threads and at most WAITING requests, each answered within its deadline."""

    def __init__(self, threads: int = THREADS, waiting: int = WAITING) -> None:
        self.threads, self.waiting = threads, waiting
        self._slots = threading.BoundedSemaphore(waiting)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="zoo-decode")
            return self._executor

    async def decode(self, adapter: Any, inputs: list[Any], names: list[str | None], timeout: float) -> list[Any]:
        """Each input read by ``adapter.read_upload`` as ``Decoded``, within ``timeout`` seconds."""
        if not self._slots.acquire(blocking=False):
            raise DecodeBusy()
        deadline = time.monotonic() + timeout
        try:
            future = self._pool().submit(_read_all, adapter, inputs, names, deadline)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except asyncio.TimeoutError:
            future.cancel()
            raise DecodeTooSlow() from None


#: The pool of this process (created on first use).
POOL = DecodePool()


def reads_uploads(adapter: Any) -> bool:
    """Whether the model's plugin decodes an upload itself (else it reads a file in ``predict``)."""
    from zoo.contracts.adapter import ModelAdapter

    method = getattr(type(adapter), "read_upload", None)
    return method is not None and method is not ModelAdapter.read_upload


async def decode_uploads(model: Any, inputs: Any, names: list[str | None], timeout: float) -> Any:
    """The request's images decoded in POOL when its model reads uploads itself; other inputs as given."""
    if model.description.get("input_form", {}).get("kind") != "image" or not reads_uploads(model.adapter):
        return inputs
    if not isinstance(inputs, list) or not inputs or len(inputs) > MAX_INPUTS:
        return inputs  # predict says what is wrong with the list
    try:
        return await POOL.decode(model.adapter, inputs, names, timeout)
    except DecodeBusy:
        raise Busy("picture decoding", POOL.waiting) from None
    except DecodeTooSlow:
        raise TooSlow(timeout) from None


def _read_all(adapter: Any, inputs: list[Any], names: list[str | None], deadline: float) -> list[Decoded]:
    """Runs on a pool thread: every picture read, the request's pixels counted; stops at the deadline."""
    decoded: list[Decoded] = []
    pixels = 0
    for i, item in enumerate(inputs):
        if time.monotonic() > deadline:
            raise DecodeTooSlow()
        name = label(i, names[i] if i < len(names) else None, "image")
        value = _read_one(adapter, image_bytes(item, i), name)
        size = getattr(value, "size", None)
        if isinstance(size, tuple) and len(size) == 2:
            pixels += int(size[0]) * int(size[1])
            if pixels > MAX_REQUEST_PIXELS:
                raise UsageError(
                    f"the images of this request hold {pixels:,} pixels together up to {name}; "
                    f"the limit per request is {MAX_REQUEST_PIXELS:,}",
                    hint="send fewer or smaller pictures; a digit needs only 28 x 28 pixels",
                )
        decoded.append(Decoded(value, name))
    return decoded


def _read_one(adapter: Any, data: bytes, name: str) -> Any:
    try:
        return adapter.read_upload(data, name)
    except ZooError:
        raise
    except Exception as exc:  # the plugin's reader failed on this upload: the upload is what is wrong
        raise UsageError(
            f"{name} is not an image this model can read: {type(exc).__name__}",
            hint="send a PNG or JPEG picture",
        ) from None
