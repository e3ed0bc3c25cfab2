"""Running the app: zoo binds the socket itself, and slow clients cannot hold connections.

Binding first means an address in use is one line before uvicorn starts, and ``--port 0``
is known (and printed) as the port the system picked. uvicorn closes idle keep-alive
connections but waits forever for the headers of a new request; the protocol below
closes a connection whose request headers are not complete within HEADER_TIMEOUT.

SIGTERM (what a container runtime or systemd sends) stops accepting connections,
lets every request in progress get its answer (within the per-request timeout and a
margin), stops the model workers and exits 0, so a rolling restart loses no request.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from zoo.errors import UsageError
from zoo.serve.options import DEFAULTS

#: Seconds a client has to send a request's headers once it connects (or after an answer).
HEADER_TIMEOUT = 10.0
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE = 5
#: Connections (and requests in progress) at once; uvicorn answers 503 beyond.
MAX_CONNECTIONS = 128


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the headers of a request are in
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.transport.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or one line saying why there cannot be one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot resolve --host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --port") from None
    sock.set_inheritable(True)
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


#: Seconds beyond the per-request timeout that a drain may take before connections are cut.
DRAIN_MARGIN = 5.0


def run(
    app: Any, sock: socket.socket, *, drain: float = DEFAULTS.timeout, on_stop: Callable[[int], None] = lambda sig: None
) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or Ctrl-C, with zoo's connection limits.

    ``on_stop`` is told the signal when shutting down starts; requests in progress then
    have ``drain`` seconds (plus DRAIN_MARGIN) to be answered.
    """
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if not self.should_exit:
                on_stop(sig)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        http=BoundedH11Protocol,
        timeout_keep_alive=KEEP_ALIVE,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_graceful_shutdown=int(drain + DRAIN_MARGIN),
        lifespan="off",
    )
    # uvicorn raises the signal again once it has shut down; a handled SIGTERM then ends
    # the process with status 0 instead of being killed by it.
    previous = signal.signal(signal.SIGTERM, _handled)
    try:
        Server(config).run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)


def _handled(sig: int, frame: FrameType | None) -> None:
    """SIGTERM after uvicorn's own shutdown: already handled, nothing left to do."""
