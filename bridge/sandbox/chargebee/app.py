"""`create_app()`: the local Chargebee as a Starlette app (`bridge sandbox chargebee --port …`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.sandbox.chargebee import api, control
from bridge.sandbox.chargebee.clock import SandboxClock
from bridge.sandbox.chargebee.errors import ChargebeeApiError
from bridge.sandbox.chargebee.faults import Faults
from bridge.sandbox.chargebee.pipeline import authenticate
from bridge.sandbox.chargebee.site import Site
from bridge.sandbox.chargebee.store import Store
from bridge.sandbox.chargebee.webhooks import CHARGEBEE_RETRY_DELAYS, WebhookDispatcher, WebhookEndpoint

DEFAULT_API_KEY = "test_sandbox_key"


async def _unknown_api_path(request: Request) -> Response:
    site: Site = request.app.state.site
    try:
        authenticate(site, request.headers.get("authorization"))
        raise ChargebeeApiError(404, "resource_not_found", f"Sorry, {request.url.path} is not an API path.")
    except ChargebeeApiError as exc:
        return exc.response()


def create_app(
    *,
    site_name: str = "sandbox-test",
    api_key: str = DEFAULT_API_KEY,
    webhook_endpoints: Sequence[WebhookEndpoint] = (),
    out_of_order: bool = False,
    duplicate_rate: float = 0.25,
    seed: int = 0,
    retry_delays: Sequence[float] = CHARGEBEE_RETRY_DELAYS,
    requests_per_minute: int | None = None,
    clock: Callable[[], float] | None = None,
) -> Starlette:
    """A fresh, empty Chargebee site.

    `webhook_endpoints` get every event (Basic auth with their credentials); `out_of_order`
    shuffles each delivery batch and duplicates about `duplicate_rate` of it (seeded by `seed`);
    `retry_delays` are the seconds between attempts (Chargebee's 7-step schedule by default);
    `requests_per_minute` turns on the 429 request limit; `clock` replaces wall time.
    """
    sandbox_clock = SandboxClock(clock) if clock is not None else SandboxClock()
    endpoints = [
        e if e.id != "whv2_sandbox" else WebhookEndpoint(e.url, e.username, e.password, id=f"whv2_{n + 1}")
        for n, e in enumerate(webhook_endpoints)
    ]
    site = Site(
        name=site_name,
        api_key=api_key,
        clock=sandbox_clock,
        store=Store(sandbox_clock, seed=seed),
        webhooks=WebhookDispatcher(
            endpoints,
            out_of_order=out_of_order,
            duplicate_rate=duplicate_rate,
            seed=seed,
            retry_delays=tuple(retry_delays),
        ),
        faults=Faults(sandbox_clock, requests_per_minute),
        seed=seed,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await site.webhooks.start()
        try:
            yield
        finally:
            await site.webhooks.stop()

    routes = [
        *api.ROUTES,
        *control.ROUTES,
        Route("/api/v2/{rest:path}", _unknown_api_path, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.site = site
    return app
