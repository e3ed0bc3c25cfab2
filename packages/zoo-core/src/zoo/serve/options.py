"""The settings of one ``zoo serve``, each default written once: the CLI, the app and ``zoo check`` read them here."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.serve.limits import MAX_BODY


@dataclass(frozen=True)
class ServeOptions:
    """Where the server listens and what one request may cost; ``zoo serve --help`` shows these defaults."""

    #: Address to listen on; loopback unless the user opens it to the network.
    host: str = "127.0.0.1"
    #: TCP port (0: the system picks a free one).
    port: int = 8000
    #: Other names clients may use in their Host header ("*": any).
    allow_hosts: tuple[str, ...] = ()
    #: Largest request body in bytes (413 beyond).
    max_body: int = MAX_BODY
    #: Seconds one prediction may take, waiting for its turn included (504 past it).
    timeout: float = 30.0
    #: Seconds a client has to send a whole request body (408 past it).
    body_timeout: float = 20.0
    #: Rows one forward pass may merge from several /v2 requests (1 turns batching off).
    max_batch: int = 32
    #: Seconds a model's worker waits for more /v2 requests to merge, while more are arriving.
    max_latency: float = 0.005
    #: Requests that may wait for one model's worker; more get 503.
    max_queue: int = 64


#: The defaults, for declarations that show them (``zoo serve --help``).
DEFAULTS = ServeOptions()
