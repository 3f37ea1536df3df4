"""The connected org's schema for a set of SObjects, read from its live describe."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bridge.salesforce.client import SalesforceClient
from bridge.salesforce.describe_schema import schema_from_describes
from bridge.salesforce.errors import SalesforceError
from bridge.salesforce.schema import Schema

# What an SObject API name can look like; anything else cannot exist in an org (and must not
# be pasted into a URL path).
_SOBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class OrgSchema:
    """The described objects as a `Schema`, the names the org lacks, and the API calls spent."""

    schema: Schema
    missing: list[str]
    api_calls: int


async def describe_org(
    client: SalesforceClient, sobjects: Iterable[str], *, concurrency: int = 8
) -> OrgSchema:
    """Describe `sobjects` (at most `concurrency` at once); one the org lacks is left out."""
    names = list(dict.fromkeys(sobjects))
    # Log in once up front: concurrent first calls would each try a failing login again.
    await client.tokens.token()
    before = sum(client.calls.values())
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str) -> dict[str, Any] | None:
        if not _SOBJECT_NAME.match(name):
            return None
        async with gate:
            try:
                return await client.describe(name)
            except SalesforceError as exc:
                if exc.code == "NOT_FOUND":
                    return None
                raise

    answers = await asyncio.gather(*(one(n) for n in names))
    found = [a for a in answers if a is not None]
    missing = [n for n, a in zip(names, answers, strict=True) if a is None]
    return OrgSchema(schema_from_describes(found), missing, sum(client.calls.values()) - before)
