"""`GET /query?q=`, `/queryAll?q=` and `nextRecordsUrl` paging (`/query/{locator}-{offset}`)."""

from __future__ import annotations

import itertools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bridge.sandbox.salesforce import soql
from bridge.sandbox.salesforce.api import Call, json_response
from bridge.sandbox.salesforce.errors import SfApiError

_locators = itertools.count(1)
MAX_OPEN_CURSORS = 50


def _batch_size(request: Request, call: Call) -> int:
    size = call.org.config.query_batch_size
    options = request.headers.get("sforce-query-options", "")
    for part in options.split(","):
        name, _, value = part.strip().partition("=")
        if name == "batchSize" and value.isdigit():
            size = min(size, max(1, int(value)))
    return size


def _page(call: Call, locator: str, records: list[dict[str, Any]], start: int, size: int) -> dict[str, Any]:
    end = start + size
    done = end >= len(records)
    body: dict[str, Any] = {"totalSize": len(records), "done": done}
    if not done:
        body["nextRecordsUrl"] = f"{call.base}/query/{locator}-{end}"
    body["records"] = records[start:end]
    return body


async def query(request: Request, call: Call) -> Response:
    """Run a SOQL query; `queryAll` also returns deleted records."""
    text = request.query_params.get("q")
    if text is None:
        raise SfApiError(400, "MALFORMED_QUERY", "A query string parameter 'q' is required")
    org = call.org
    parsed = soql.parse(text, org.catalog)
    include_deleted = request.url.path.rstrip("/").endswith("queryAll")
    rows = soql.run(parsed, org.store, include_deleted=include_deleted)
    if parsed.count_only:
        return json_response({"totalSize": len(rows), "done": True, "records": []})
    records = [soql.shape(parsed, r, org.store, call.base) for r in rows]
    size = _batch_size(request, call)
    locator = f"01g5g{next(_locators):010d}"
    if len(records) > size:
        org.query_cursors[locator] = records
        # Salesforce keeps a limited number of open cursors per user; forget the oldest.
        while len(org.query_cursors) > MAX_OPEN_CURSORS:
            org.query_cursors.pop(next(iter(org.query_cursors)))
    return json_response(_page(call, locator, records, 0, size))


async def query_more(request: Request, call: Call) -> Response:
    """Follow a `nextRecordsUrl`."""
    locator, _, offset = request.path_params["locator"].rpartition("-")
    records = call.org.query_cursors.get(locator)
    if records is None or not offset.isdigit():
        raise SfApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    body = _page(call, locator, records, int(offset), _batch_size(request, call))
    if body["done"]:
        call.org.query_cursors.pop(locator, None)
    return json_response(body)
