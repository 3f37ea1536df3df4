"""The local Salesforce as a Starlette app: `create_app()` (used by `bridge sandbox salesforce`).

Served over plain HTTP (clients that force https, like simple-salesforce, get a requests
adapter that rewrites the scheme; see tests/fixtures/sf_sandbox_server.py).

    POST /services/oauth2/token                           password | client_credentials | JWT bearer
    GET  /services/data/                                  versions (31.0 … 62.0), no session needed
    /services/data/vXX.X/
        limits, sobjects, sobjects/{Obj}, sobjects/{Obj}/describe, sobjects/{Obj}/{id},
        sobjects/{Obj}/{ExtField}/{value} (PATCH = upsert), query?q=, queryAll?q=, query/{locator},
        composite/sobjects (POST create, PATCH update, DELETE ?ids=), composite/sobjects/{Obj}?ids=,
        composite/sobjects/{Obj}/{ExtField} (PATCH upsert),
        jobs/ingest[/{id}[/batches|/successfulResults|/failedResults|/unprocessedrecords]],
        jobs/query[/{id}[/results?locator=&maxRecords=]]
    POST /cometd/XX.X                                     Bayeux long polling (CDC channels /data/…)
    /_sandbox/…                                           control API, see `control.py`
"""

from __future__ import annotations

from dataclasses import fields as dc_fields
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from bridge.salesforce.schema import Schema
from bridge.sandbox.salesforce import bulk, collections, control, query, rest
from bridge.sandbox.salesforce.api import Handler, endpoint
from bridge.sandbox.salesforce.auth import load_public_key, token
from bridge.sandbox.salesforce.clock import Clock
from bridge.sandbox.salesforce.cometd import CometD
from bridge.sandbox.salesforce.duplicates import DuplicateRule
from bridge.sandbox.salesforce.org import SandboxConfig, make_org
from bridge.sandbox.salesforce.outbound import OutboundRule, Outbox

_DATA = "/services/data/{version}"


def _api_routes() -> list[BaseRoute]:
    def both(path: str, kind: str, handler: Handler, methods: list[str]) -> list[BaseRoute]:
        ep = endpoint(kind, handler)
        return [Route(path, ep, methods=methods), Route(path + "/", ep, methods=methods)]

    return [
        Route("/services/data", rest.versions, methods=["GET"]),
        Route("/services/data/", rest.versions, methods=["GET"]),
        *both(_DATA, "rest.resources", rest.resources, ["GET"]),
        *both(f"{_DATA}/limits", "rest.limits", rest.limits, ["GET"]),
        *both(f"{_DATA}/sobjects", "rest.describe_global", rest.sobjects, ["GET"]),
        *both(f"{_DATA}/sobjects/{{sobject}}", "rest.sobject", rest.sobject_root, ["GET", "POST"]),
        *both(
            f"{_DATA}/sobjects/{{sobject}}/{{item}}",
            "rest.record",
            rest.sobject_item,
            ["GET", "PATCH", "DELETE"],
        ),
        *both(
            f"{_DATA}/sobjects/{{sobject}}/{{field}}/{{value}}",
            "rest.external_id",
            rest.sobject_by_external_id,
            ["GET", "PATCH", "DELETE"],
        ),
        *both(f"{_DATA}/query", "query", query.query, ["GET"]),
        *both(f"{_DATA}/queryAll", "query_all", query.query, ["GET"]),
        *both(f"{_DATA}/query/{{locator}}", "query_more", query.query_more, ["GET"]),
        *both(f"{_DATA}/queryAll/{{locator}}", "query_more", query.query_more, ["GET"]),
        *both(
            f"{_DATA}/composite/sobjects",
            "collections.write",
            collections.collection,
            ["POST", "PATCH", "DELETE"],
        ),
        *both(
            f"{_DATA}/composite/sobjects/{{sobject}}",
            "collections.retrieve",
            collections.retrieve,
            ["GET", "POST"],
        ),
        *both(
            f"{_DATA}/composite/sobjects/{{sobject}}/{{field}}",
            "collections.upsert",
            collections.upsert,
            ["PATCH"],
        ),
        *both(f"{_DATA}/jobs/ingest", "bulk2.ingest", bulk.ingest_jobs, ["GET", "POST"]),
        *both(f"{_DATA}/jobs/ingest/{{job_id}}", "bulk2.ingest", bulk.ingest_job, ["GET", "PATCH", "DELETE"]),
        *both(f"{_DATA}/jobs/ingest/{{job_id}}/batches", "bulk2.upload", bulk.upload, ["PUT"]),
        *both(f"{_DATA}/jobs/ingest/{{job_id}}/{{kind}}", "bulk2.results", bulk.ingest_results, ["GET"]),
        *both(f"{_DATA}/jobs/query", "bulk2.query", bulk.query_jobs, ["GET", "POST"]),
        *both(f"{_DATA}/jobs/query/{{job_id}}", "bulk2.query", bulk.query_job, ["GET", "DELETE"]),
        *both(f"{_DATA}/jobs/query/{{job_id}}/results", "bulk2.results", bulk.query_results, ["GET"]),
    ]


def create_app(
    schema: Schema | None = None,
    *,
    clock: Clock | None = None,
    config: SandboxConfig | None = None,
    **options: Any,
) -> Starlette:
    """A fresh, empty org. `options` are `SandboxConfig` fields (e.g. `api_allowance=100`,
    `token_lifetime=60`, `query_batch_size=2`, `jwt_public_key=PEM`, `long_poll_timeout=1`,
    `outbound_rules=[OutboundRule(url=…)]`, `outbound_transport=httpx.ASGITransport(…)`)."""
    known = {f.name for f in dc_fields(SandboxConfig)}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown sandbox options {sorted(unknown)}; known: {sorted(known)}")
    cfg = config or SandboxConfig()
    for key, value in options.items():
        setattr(cfg, key, value)
    cfg.duplicate_rules = [DuplicateRule.model_validate(r) for r in cfg.duplicate_rules]
    if cfg.jwt_public_key is not None:
        load_public_key(cfg.jwt_public_key)  # fail at start, not at the first login
    org = make_org(schema, cfg, clock)
    cometd = CometD(org)
    outbox = Outbox(org, transport=cfg.outbound_transport, retry_seconds=cfg.outbound_retry_seconds)
    outbox.rules = [
        r if isinstance(r, OutboundRule) else OutboundRule.model_validate(r) for r in cfg.outbound_rules
    ]
    org.commit_listeners.append(outbox.on_commit)
    routes: list[BaseRoute] = [
        Route("/services/oauth2/token", token, methods=["POST"]),
        *_api_routes(),
        Route("/cometd/{version}", cometd.handle, methods=["POST"]),
        Route("/cometd/{version}/", cometd.handle, methods=["POST"]),
        *control.routes(),
    ]
    app = Starlette(routes=routes)
    app.state.org = org
    app.state.cometd = cometd
    app.state.outbox = outbox
    return app
