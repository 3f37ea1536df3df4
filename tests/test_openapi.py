"""GET /openapi.json describes exactly the receiver's routes, and is a valid OpenAPI 3.1 document."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from receiver_harness import running_receiver
from starlette.routing import Route

from bridge.app import create_app
from bridge.openapi import OPERATIONS, spec
from bridge.settings import Settings


def _served(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    return {
        (route.path, method)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }


async def test_openapi_lists_exactly_the_routes_the_app_serves(settings: Settings) -> None:
    served = _served(settings)
    async with running_receiver(settings, wait_ready=False) as url, httpx.AsyncClient() as client:
        r = await client.get(f"{url}/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    listed = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert listed == served
    assert set(OPERATIONS) == served  # no description of a route that is gone
    assert {
        ("/webhooks/orb", "POST"),
        ("/webhooks/chargebee", "POST"),
        ("/webhooks/salesforce", "POST"),
        ("/healthz", "GET"),
        ("/readyz", "GET"),
        ("/metrics", "GET"),
    } <= listed


def test_openapi_documents_headers_auth_and_the_error_shape(settings: Settings) -> None:
    doc = spec(create_app(settings).routes)
    orb = doc["paths"]["/webhooks/orb"]["post"]
    assert {p["name"] for p in orb["parameters"] if p["in"] == "header"} == {
        "X-Orb-Signature",
        "X-Orb-Timestamp",
    }
    assert set(orb["responses"]) == {"200", "202", "400", "401", "413", "503"}
    assert doc["paths"]["/webhooks/chargebee"]["post"]["security"] == [{"chargebeeBasic": []}]
    assert doc["components"]["securitySchemes"]["chargebeeBasic"]["scheme"] == "basic"
    assert doc["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    assert "Retry-After" in orb["responses"]["503"]["headers"]
    loaded = schemathesis.openapi.from_dict(doc)
    loaded.validate()  # against the OpenAPI 3.1 meta-schema
    operations = list(loaded.get_all_operations())
    assert len(operations) == len(OPERATIONS) and all(op.ok() for op in operations)


def test_a_route_without_a_description_is_refused() -> None:
    async def nothing(request: object) -> None:
        return None

    with pytest.raises(KeyError, match="GET /undocumented"):
        spec([Route("/undocumented", nothing, methods=["GET"])])
