"""One worker thread per served model, a bounded queue in front of it, and dynamic batching.

Inference never runs on the event loop: a request puts a job in its model's queue and
awaits the answer. The worker runs one job at a time, so a model's memory and CPU use
do not grow with the number of clients, and a full queue is refused at once (503 with
``Retry-After``) instead of holding more and more requests in memory.

Tensor jobs (``/v2`` infer) are merged: the worker takes the first one, then gathers
queued jobs of the same shape into one forward pass of at most ``max_batch`` rows. It
waits for more, up to ``max_latency`` seconds, only while other requests for the model
are known to be arriving (counted by the app as they start), so a lone client never
pays the wait. Call jobs (``/v1`` predict, whose request already holds a list of inputs)
run one by one.

Each ``/v2`` request is checked (shape, type, token and value ranges) before it is queued,
so it should not break a batch; if a merged forward pass fails anyway, its requests are run
again one by one, and only the one that fails alone gets the error.

A job that is still queued when its request gives up (``--timeout``) is cancelled and
never run; one already running cannot be interrupted (torch has no way to stop a
thread), so its worker stays busy until it ends and the queue bound still holds.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch

from zoo.serve.errortable import Busy, TooSlow
from zoo.serve.options import DEFAULTS

log = logging.getLogger("zoo.serve")


@dataclass
class Job:
    """One request's work: a batch of model inputs to merge, or a call to run as it is."""

    future: Future[Any]
    tensor: torch.Tensor | None = None
    call: Callable[[], Any] | None = None

    @property
    def rows(self) -> int:
        return int(self.tensor.shape[0]) if self.tensor is not None else 0

    def merges_with(self, other: Job) -> bool:
        a, b = self.tensor, other.tensor
        return a is not None and b is not None and a.shape[1:] == b.shape[1:] and a.dtype == b.dtype


@dataclass
class ModelWorker:
    """The thread that runs one model's jobs, fed by a queue of at most ``max_queue`` jobs."""

    name: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    max_batch: int = DEFAULTS.max_batch
    max_latency: float = DEFAULTS.max_latency
    max_queue: int = DEFAULTS.max_queue
    on_batch: Callable[[int], None] = lambda rows: None
    jobs: queue.Queue[Job] = field(init=False)
    held: Job | None = field(default=None, init=False)  # taken from the queue but not fitting the last batch

    def __post_init__(self) -> None:
        # Requests for this model that have started and not yet ended: counted on the event
        # loop's thread, read on the worker's, so both go through the lock.
        self._arriving = 0
        self._arriving_lock = threading.Lock()
        self.jobs = queue.Queue(self.max_queue)
        self.thread = threading.Thread(target=self._loop, name=f"zoo-model-{self.name}", daemon=True)
        self.thread.start()

    def arrive(self, count: int = 1) -> None:
        """A request for this model has started (``count`` = -1: one has ended)."""
        with self._arriving_lock:
            self._arriving += count

    def arriving(self) -> int:
        """How many requests for this model are in progress, its queued jobs included."""
        with self._arriving_lock:
            return self._arriving

    def depth(self) -> int:
        return self.jobs.qsize() + (self.held is not None)

    def submit(self, job: Job) -> Future[Any]:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise Busy(self.name, self.max_queue) from None
        return job.future

    def close(self, wait: float = 10.0) -> None:
        """Stop after the jobs already queued; wait at most ``wait`` seconds for the thread."""
        self.jobs.put(STOP)
        self.thread.join(wait)

    # -- the worker thread ---------------------------------------------------------------
    def _loop(self) -> None:
        torch.set_grad_enabled(False)
        while True:
            job, self.held = self.held, None
            if job is None:
                job = self.jobs.get()
            if job is STOP:
                return
            if job.tensor is None:
                self._run_call(job)
            else:
                self._run_batch(self._gather(job))

    def _gather(self, first: Job) -> list[Job]:
        """``first`` and the queued jobs that fit beside it, within max_batch rows and max_latency."""
        batch, rows = [first], first.rows
        deadline = time.monotonic() + self.max_latency
        while rows < self.max_batch:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0 or self.arriving() <= len(batch):
                    break  # nothing more is on its way, or waited long enough
                try:
                    job = self.jobs.get(timeout=min(left, 0.001))
                except queue.Empty:
                    continue
            if not first.merges_with(job) or rows + job.rows > self.max_batch:
                self.held = job
                break
            batch.append(job)
            rows += job.rows
        return batch

    def _run_batch(self, batch: list[Job]) -> None:
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            tensors = [job.tensor for job in live if job.tensor is not None]
            x = tensors[0] if len(tensors) == 1 else torch.cat(tensors)
            self.on_batch(int(x.shape[0]))
            y = self.forward(x)
            if len(live) > 1 and (y.dim() == 0 or y.shape[0] != x.shape[0]):
                raise ValueError(f"the model returned {tuple(y.shape)} for a batch of {x.shape[0]} rows")
        except BaseException as exc:  # the worker lives on; a merged batch is retried request by request
            if len(live) == 1:
                live[0].future.set_exception(exc)
                return
            log.info("%s: a batch of %d requests failed (%s); running them one by one", self.name, len(live), exc)
            for job in live:
                self._run_alone(job)
            return
        start = 0
        for job in live:
            job.future.set_result(y[start : start + job.rows])
            start += job.rows

    def _run_alone(self, job: Job) -> None:
        """One already-started tensor job by itself: its own answer or its own error."""
        try:
            assert job.tensor is not None
            self.on_batch(job.rows)
            job.future.set_result(self.forward(job.tensor))
        except BaseException as exc:
            job.future.set_exception(exc)

    def _run_call(self, job: Job) -> None:
        if not job.future.set_running_or_notify_cancel() or job.call is None:
            return
        try:
            result = job.call()
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)


#: Put in a queue by ``close``: the worker ends when it reaches it.
STOP = Job(Future())


async def answer(worker: ModelWorker, job: Job, timeout: float) -> Any:
    """Queue ``job`` on ``worker`` and await its result for at most ``timeout`` seconds.

    Raises Busy when the queue is full and TooSlow past the time; a job not yet started
    by then is cancelled.
    """
    future = worker.submit(job)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
    except asyncio.TimeoutError:
        future.cancel()
        raise TooSlow(timeout) from None
