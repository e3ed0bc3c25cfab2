"""What ``GET /metrics`` reports, in Prometheus' text format through ``prometheus_client``.

Each app has its own registry (not the library's global one), so several servers in one
process, such as ``zoo check``'s round trip beside a test's, never share counts. Labels
are bounded: the model label is a served model's name or ``-``, the route label one of
the app's route templates, so a client cannot grow the series by inventing names.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Request latency buckets, in seconds: from a tabular model's fraction of a millisecond
#: to the default 30 s timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Rows per forward pass; powers of two up to well past the default --max-batch-size.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: The model label of requests for no served model.
NO_MODEL = "-"


class Metrics:
    """The server's counters, histograms and gauges, and their text form."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "zoo_requests",
            "Requests answered, by model, route template and HTTP status.",
            ("model", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "zoo_request_seconds",
            "Time from a request's arrival to its answer, by model and route template.",
            ("model", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "zoo_batch_size",
            "Rows in each forward pass the model's worker ran (v2 requests merged by dynamic batching).",
            ("model",),
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "zoo_queue_depth", "Requests waiting for the model's worker.", ("model",), registry=self.registry
        )
        self.in_progress = Gauge(
            "zoo_requests_in_progress",
            "Prediction requests (/v1 predict, /v2 infer) being answered.",
            registry=self.registry,
        )
        self.load_seconds = Gauge(
            "zoo_model_load_seconds",
            "Seconds it took to load and describe the model.",
            ("model",),
            registry=self.registry,
        )

    def observe(self, model: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(model, route, str(status)).inc()
        self.latency.labels(model, route).observe(seconds)

    def watch_queue(self, model: str, depth: Callable[[], float]) -> None:
        self.queue_depth.labels(model).set_function(depth)

    def text(self) -> bytes:
        return generate_latest(self.registry)
