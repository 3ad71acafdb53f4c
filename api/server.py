"""Run an app under uvicorn: in the foreground (`emotrace serve`) or on a thread (tests, bench).

The thread variant follows httpx's test server: no signal handlers, wait until started, stop in
``finally``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

STARTUP_TIMEOUT_S = 30.0


def run(app: FastAPI, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        proxy_headers=True,
        timeout_keep_alive=30,
        server_header=False,
    )


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        return None  # signals belong to the main thread's owner


@contextmanager
def serve_in_thread(app: FastAPI, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Yield the base URL of ``app`` served on a background thread (port 0: any free port)."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, name="emotrace-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{bound[0]}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
