"""Helpers for the Chargebee sandbox tests: uvicorn on a real loopback port, a webhook receiver,
and the real `chargebee` SDK pointed at the sandbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn
from chargebee import Chargebee
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

API_KEY = "test_sandbox_key"
WEBHOOK_USER = "cb-hooks"
WEBHOOK_PASSWORD = "s3cret"


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run `app` with uvicorn on a free loopback port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):  # bounded: about 5 s
        if server.started:
            started.set()
            break
        threading.Event().wait(0.01)
    if not started.is_set():
        server.should_exit = True
        raise RuntimeError("uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Receiver:
    """Records webhook requests; answers `fail_first` requests with 500, then 200."""

    fail_first: int = 0
    always_fail: bool = False
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            self.requests.append((dict(request.headers), await request.body()))
            if self.always_fail or len(self.requests) <= self.fail_first:
                return JSONResponse({"error": "try later"}, status_code=500)
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hooks", hook, methods=["POST"])])


def sdk(base_url: str, api_key: str = API_KEY) -> Chargebee:
    """The unmodified SDK aimed at the sandbox: site `127` + domain `0.0.1:PORT` + http.

    The caller must also set `Chargebee.verify_ca_certs = False`: while it is True the SDK
    forces https whatever `protocol` says.
    """
    port = base_url.rsplit(":", 1)[1]
    return Chargebee(api_key=api_key, site="127", chargebee_domain=f"0.0.1:{port}", protocol="http")


def control(base_url: str, method: str, path: str, json: object | None = None) -> httpx.Response:
    """Call the sandbox's control API."""
    return httpx.request(method, f"{base_url}/_sandbox{path}", json=json, timeout=30)


def wait_for_webhooks(base_url: str) -> None:
    """Block until the sandbox has nothing left to deliver (bounded by the control API)."""
    answer = control(base_url, "POST", "/webhooks/wait", {"timeout": 20}).json()
    assert answer["idle"], "webhook deliveries did not settle"
