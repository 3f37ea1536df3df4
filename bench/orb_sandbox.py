"""Orb sandbox figures: tenant generation, paginated listing through the API, and a scenario's
webhooks delivered to a local receiver. Prints numbers; asserts nothing.

    .venv/bin/python bench/orb_sandbox.py [customers]
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from datetime import UTC, datetime

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.sandbox.orb import revenue
from bridge.sandbox.orb.app import create_app
from bridge.sandbox.orb.clock import SandboxClock
from bridge.sandbox.orb.scenario import run
from bridge.sandbox.orb.store import Store
from bridge.sandbox.orb.tenant import generate

KEY = "bench-key"


def _serve(app: Starlette, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    store = Store(SandboxClock(datetime(2025, 6, 15, tzinfo=UTC)))
    started = time.perf_counter()
    summary = generate(store, seed=1, customers=count)
    took = time.perf_counter() - started
    print(f"generate {count} customers: {took:.2f}s  {summary.as_dict()}")
    started = time.perf_counter()
    rows = sum(1 for _ in revenue.all_rows(store))
    print(f"daily revenue rows derived: {rows} in {time.perf_counter() - started:.2f}s")

    received: list[int] = []

    async def hook(request: Request) -> Response:
        await request.body()
        received.append(1)
        return Response()

    receiver = _serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), 18931)
    app = create_app(
        api_keys=KEY, webhook_endpoints=["http://127.0.0.1:18931/hook"], retry_backoff_seconds=0.05
    )
    sandbox = _serve(app, 18932)

    async def drive() -> None:
        base = "http://127.0.0.1:18932"
        async with httpx.AsyncClient(timeout=60) as http:
            started = time.perf_counter()
            await http.post(f"{base}/_sandbox/tenant", json={"seed": 1, "customers": count})
            print(f"load tenant over HTTP: {time.perf_counter() - started:.2f}s")
            started = time.perf_counter()
            pages = items = 0
            params: dict[str, object] = {"limit": 100}
            while True:
                page = (
                    await http.get(
                        f"{base}/v1/invoices", params=params, headers={"Authorization": f"Bearer {KEY}"}
                    )
                ).json()
                pages += 1
                items += len(page["data"])
                if not page["pagination_metadata"]["has_more"]:
                    break
                params["cursor"] = page["pagination_metadata"]["next_cursor"]
            took = time.perf_counter() - started
            print(f"list invoices: {items} in {pages} pages, {took:.2f}s ({items / took:.0f} invoices/s)")
            started = time.perf_counter()
            result = await run(http, base, api_key=KEY, seed=1, steps=300, load_tenant=False)
            emitted = (await http.get(f"{base}/_sandbox/snapshot")).json()["counts"]["events_emitted"]
            for _ in range(600):
                if len(received) >= emitted:
                    break
                await asyncio.sleep(0.05)
            took = time.perf_counter() - started
            print(f"scenario 300 steps: {result.as_dict()}")
            print(
                f"webhooks: {len(received)}/{emitted} delivered in {took:.2f}s ({len(received) / took:.0f}/s)"
            )

    asyncio.run(drive())
    sandbox.should_exit = receiver.should_exit = True


if __name__ == "__main__":
    main()
