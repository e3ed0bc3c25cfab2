"""A stand-in for the Hugging Face Hub on 127.0.0.1: serves ``/{repo}/resolve/{rev}/{file}`` as the hub does.

Each served file carries the headers ``huggingface_hub`` reads: the commit, the size and an
ETag that for LFS files is the file's sha256. ``serve(repo, body, etag)`` chooses what a repo
answers, so a test can hand out a good file, a tampered one (the ETag of another) or a pickle.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Hub:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        self.url = ""
        #: Downloads to cut off half way (the connection closes), before answering in full.
        self.drops = 0

    def serve(self, repo: str, body: bytes, etag: str | None = None) -> None:
        self.files[repo] = (body, etag or hashlib.sha256(body).hexdigest())


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, with_body: bool) -> None:
            hub.requests.append(f"{self.command} {self.path}")
            repo, sep, rest = self.path.lstrip("/").partition("/resolve/")
            found = hub.files.get(repo) if sep and rest.endswith("/model.safetensors") else None
            if found is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, etag = found
            start = 0
            asked = self.headers.get("Range", "")
            if with_body and asked.startswith("bytes=") and asked.endswith("-"):
                start = int(asked[len("bytes=") : -1])
                hub.requests.append(f"Range {start}")
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{etag}"')
            self.send_header("Content-Length", str(len(body) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if not with_body:
                return
            if hub.drops > 0:
                hub.drops -= 1
                self.wfile.write(body[start : start + (len(body) - start) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # the connection drops with the file half sent
                return
            self.wfile.write(body[start:])

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(False)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(True)

    return Handler


@contextmanager
def running_hub() -> Iterator[Hub]:
    hub = Hub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
