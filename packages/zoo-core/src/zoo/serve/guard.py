"""Which requests ``zoo serve`` answers at all: the right Host, and no other site's page.

A server on 127.0.0.1 is still reachable from any web page the user opens: the page can
post to it directly (a "simple" cross-site request needs no permission), or point a
domain of its own at 127.0.0.1 (DNS rebinding) and then read the answers. The first is
stopped by refusing an ``Origin`` that is not this server, the second by accepting only a
``Host`` header that names this server: loopback names, the ``--host`` address and
whatever ``--allow-host`` adds (``*`` turns the check off).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from zoo.serve.errortable import Forbidden, describe

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
#: The port an Origin means when it names none; zoo itself speaks plain http.
DEFAULT_PORTS = {"http": 80, "https": 443}


def url_host(host: str) -> str:
    """``host`` as written in a URL or a Host header: IPv6 addresses in brackets."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names (no port) this server answers to; ``*`` among them means any."""
    names = {*LOOPBACK_NAMES, url_host(host)}
    names.update(url_host(name.strip()) for name in extra if name.strip())
    return frozenset(name.lower() for name in names)


def host_ok(value: str, allowed: frozenset[str], port: int) -> bool:
    """Whether a Host header (``name`` or ``name:port``) names this server on ``port``."""
    if "*" in allowed:
        return True
    value = value.strip().lower()
    if value in allowed:  # an --allow-host given with its port, or a name with none
        return True
    name, sep, rest = value.rpartition(":")
    if not sep or name.endswith(":") or (name.startswith("[") != name.endswith("]")):
        return False  # no port, or an unbracketed IPv6 address
    return name in allowed and rest == str(port)


class HostGuard:
    """ASGI middleware: 403 with a JSON error for a foreign Host or Origin, before any routing."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str], port: int) -> None:
        self.app = app
        self.allowed = allowed
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        problem = None
        if not host_ok(host, self.allowed, self.port):
            problem = f"this server does not answer to the Host {host[:100]!r}"
        elif "origin" in headers and not self._origin_ok(headers["origin"]):
            problem = f"requests from pages of {headers['origin'][:100]!r} are not accepted"
        if problem is None:
            await self.app(scope, receive, send)
            return
        hint = "open the page at this server's own address, or start zoo serve with --allow-host NAME"
        status, answer, _ = describe(Forbidden(problem, hint))
        body = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _origin_ok(self, origin: str) -> bool:
        """Same scheme, host and port as this server (80 or 443 implied), or an ``--allow-host NAME:PORT``."""
        try:
            parts = urlsplit(origin.strip())
            port = parts.port
        except ValueError:
            return False
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            return False  # "null" (a sandboxed page or a file) or anything stranger
        if "*" in self.allowed:
            return True
        name = url_host(parts.hostname).lower()
        port = DEFAULT_PORTS[parts.scheme] if port is None else port
        if f"{name}:{port}" in self.allowed:  # named with its port: a proxy in front may speak https
            return True
        return parts.scheme == "http" and name in self.allowed and port == self.port
