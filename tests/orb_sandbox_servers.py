"""Test helpers for the Orb sandbox: run an ASGI app with uvicorn on a real loopback port in a
background thread, and a small webhook receiver that records what it gets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

API_KEY = "test-orb-key"
SECRET = "whsec-test-orb"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run `app` on 127.0.0.1:<free port> until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers `fail_first` requests with 500, then 200."""

    fail_first: int = 0
    got: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                status = 500 if len(self.answered) < self.fail_first else 200
                self.answered.append(status)
                if status == 200:
                    self.got.append(Received(request.url.path, dict(request.headers), body))
            return Response(status_code=status)

        return Starlette(routes=[Route("/{name}", hook, methods=["POST"])])

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[Received]:
        """Block until `count` deliveries (to `path`, if given) succeeded, at most `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = [r for r in self.got if path is None or r.path == path]
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.02)


def control(base: str, method: str, path: str, body: Any = None) -> Any:
    """Call a `/_sandbox` route and return its JSON (raises on non-2xx)."""
    resp = httpx.request(method, f"{base}{path}", json=body, timeout=30)
    resp.raise_for_status()
    return resp.json()
