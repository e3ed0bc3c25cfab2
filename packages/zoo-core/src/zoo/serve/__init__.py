"""``zoo serve``: checkpoints behind ``/v1`` (zoo's JSON API), ``/v2`` (the Open Inference Protocol) and a page.

``/v1`` answers exactly what ``zoo predict --json`` prints (one predict path,
``zoo.use.predict.run_predict``); ``/v2`` takes the model's input tensors, so KServe and
Triton clients work unchanged. Inputs never name server files: images arrive as bytes
and are written to a private temporary file, and options that read files are not
accepted. What one request may cost is bounded before any work (``zoo.serve.limits``);
each model has one worker thread behind a bounded queue (``zoo.serve.batcher``). The
endpoints are thin over one protocol-neutral layer (``zoo.serve.dataplane``); errors the
user can fix are 4xx JSON in one shape, ``{"error", "hint", "code"}``, each error type
mapped to its status once (``zoo.serve.errortable``); anything else is a 500 without a
traceback. The defaults of all this are ``zoo.serve.options.ServeOptions``.

Importing this package needs neither starlette nor uvicorn: ``zoo check`` asks
``require_serve_extra`` first, then calls ``check_roundtrip``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from zoo.errors import UsageError
from zoo.serve.limits import MAX_BODY, MAX_INPUTS
from zoo.serve.models import Served, describe, load_models

SERVE_EXTRA = "pip install 'zoo-core[serve]'"
#: Modules the serve extra installs.
SERVE_MODULES = ("starlette", "uvicorn", "multipart", "prometheus_client", "httpx")
__all__ = [
    "MAX_BODY",
    "MAX_INPUTS",
    "SERVE_EXTRA",
    "Served",
    "check_roundtrip",
    "describe",
    "load_models",
    "require_serve_extra",
]


def require_serve_extra() -> None:
    """Refuse to start without the serve extra, naming what is missing and how to install it."""
    missing = [m for m in SERVE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"zoo serve needs {', '.join(missing)}, which is not installed", hint=SERVE_EXTRA)


def check_roundtrip(loaded: Any, name: str = "model") -> None:
    """Serve ``loaded`` in-process and call every route a client would; a ZooError names the failing route."""
    from zoo.serve.roundtrip import check_roundtrip as run

    run(loaded, name)
