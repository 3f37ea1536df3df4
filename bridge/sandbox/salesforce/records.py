"""Records as the REST API shows them: `attributes` first, then fields in describe order."""

from __future__ import annotations

from typing import Any

from bridge.sandbox.salesforce.catalog import ObjectInfo
from bridge.sandbox.salesforce.store import Row


def attributes(info: ObjectInfo, record_id: str, base: str) -> dict[str, str]:
    return {"type": info.name, "url": f"{base}/sobjects/{info.name}/{record_id}"}


def record_json(info: ObjectInfo, row: Row, base: str, fields: list[str] | None = None) -> dict[str, Any]:
    """`GET /sobjects/{Obj}/{id}`; `fields` restricts to the named fields (proper names)."""
    out: dict[str, Any] = {"attributes": attributes(info, row["Id"], base)}
    names = fields if fields is not None else [f.name for f in info.ordered]
    for name in names:
        out[name] = row.get(name)
    return out
