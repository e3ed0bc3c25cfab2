"""The protocol-neutral layer of ``zoo serve``: what ``/v1``, ``/v2`` and the page ask of the models.

Like KServe's data plane, it holds the models, their workers and the server's limits and
knows nothing of HTTP: an endpoint reads its request, calls one method here and writes the
answer. Every failure is a ServeError or a ZooError, which the endpoints answer through one
table (``serve.errortable``). Predictions run on the model's worker thread
(``serve.batcher``), each answered within ``--timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import torch

from zoo.errors import UsageError, ZooError
from zoo.jsonout import flag_nonfinite
from zoo.serve.batcher import Job, ModelWorker, answer
from zoo.serve.decoding import decode_uploads
from zoo.serve.errortable import ModelFailed, NoTensors, NotFound, ServeError
from zoo.serve.metrics import Metrics
from zoo.serve.models import Served, log
from zoo.serve.options import ServeOptions
from zoo.serve.tensors import check_values, token_limit


class DataPlane:
    """The served models behind one server, with a worker each, the server's options and its metrics."""

    def __init__(self, served: dict[str, Served], options: ServeOptions, metrics: Metrics) -> None:
        self.served, self.options, self.metrics = served, options, metrics
        self.stopping = False  # set once SIGTERM arrives: ready says no, bodies still arriving are refused
        self.in_progress = 0
        self.workers = {name: self._start_worker(model) for name, model in served.items()}

    def _start_worker(self, model: Served) -> ModelWorker:
        worker = ModelWorker(
            model.name,
            _forward(model),
            max_batch=self.options.max_batch,
            max_latency=self.options.max_latency,
            max_queue=self.options.max_queue,
            on_batch=self.metrics.batch_size.labels(model.name).observe,
        )
        self.metrics.watch_queue(model.name, worker.depth)
        self.metrics.load_seconds.labels(model.name).set(model.load_seconds)
        return worker

    def close(self) -> None:
        """Stop every model's worker after the jobs it already holds."""
        for worker in self.workers.values():
            worker.close()

    @property
    def ready(self) -> bool:
        return not self.stopping

    def model(self, name: str) -> Served:
        """The model served as ``name``."""
        if name not in self.served:
            raise NotFound(f"no model {str(name)[:100]!r} is served here; GET /v1/models lists them")
        return self.served[name]

    def tensor_model(self, name: str, version: str | None = None) -> Served:
        """The model served as ``name`` (version 1, its only one) that takes tensors."""
        model = self.model(name)
        if version not in (None, "", "1"):
            raise NotFound(f"{name} has one version, 1; there is no version {str(version)[:40]!r}")
        if model.signature is None:
            raise NoTensors(f"{name} cannot be called through /v2: {model.no_signature}", "use /v1")
        return model

    def describe_all(self) -> list[dict[str, Any]]:
        return [model.describe() for model in self.served.values()]

    @contextmanager
    def arriving(self, name: str) -> Iterator[None]:
        """One request for ``name`` (a served model or none) in progress while the block runs."""
        worker = self.workers.get(name)
        self.in_progress += 1
        self.metrics.in_progress.inc()
        if worker is not None:
            worker.arrive()
        try:
            yield
        finally:
            if worker is not None:
                worker.arrive(-1)
            self.in_progress -= 1
            self.metrics.in_progress.dec()

    async def predict(
        self, model: Served, inputs: Any, options: dict[str, Any], names: list[str | None]
    ) -> list[dict[str, Any]]:
        """Inputs as ``zoo predict`` takes them, answered as ``zoo predict --json`` (non-finite values as null)."""
        timeout = self.options.timeout
        inputs = await decode_uploads(model, inputs, names, timeout)  # off the model's worker
        job = Job(Future(), call=lambda: model.predict(inputs, options, names))
        return flag_nonfinite(await answer(self.workers[model.name], job, timeout))

    async def infer(self, model: Served, x: torch.Tensor) -> torch.Tensor:
        """The model's output for one checked input tensor, run in a batch with others where they fit."""
        check_values(x, token_limit(model.forward))
        try:
            result: torch.Tensor = await answer(self.workers[model.name], Job(Future(), tensor=x), self.options.timeout)
        except (ServeError, ZooError):
            raise
        except Exception as exc:  # this request alone (the batcher retried it by itself) broke the model
            log.warning("%s: a /v2 input did not run through the model: %s: %s", model.name, type(exc).__name__, exc)
            raise ModelFailed(
                f"input 'input' does not run through {model.name} ({type(exc).__name__})",
                f"check its values against GET /v2/models/{model.name}",
            ) from None
        return result


def _forward(model: Served) -> Callable[[torch.Tensor], torch.Tensor]:
    """What the worker runs on a merged /v2 batch: the exported module, on the CPU."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        if model.forward is None:
            raise UsageError(f"{model.name} cannot be called through /v2: {model.no_signature}")
        return model.infer(x)

    return forward
