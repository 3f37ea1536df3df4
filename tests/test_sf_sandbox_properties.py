"""Properties of the sandbox's write path and SOQL evaluation, checked with hypothesis."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fixtures.sf_sandbox_server import FakeClock, V, login, make_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = st.sampled_from(["k1", "k2", "k3", "K1", "k4"])
UPSERT = f"{V}/composite/sobjects/TestCustomer__c/Ext_Id__c"
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(FakeClock())), base_url="http://sf.test"
    )


async def _batched_upserts(writes: list[tuple[str, int]], cut: int) -> None:
    async with client() as c:
        await login(c)
        expected: dict[str, int] = {}
        for start in range(0, len(writes), cut):
            batch = writes[start : start + cut]
            records = [
                {"attributes": {"type": "TestCustomer__c"}, "Ext_Id__c": k, "Plan__c": "p", "Seats__c": v}
                for k, v in batch
            ]
            results = (await c.patch(UPSERT, json={"records": records})).json()
            lowered = [k.lower() for k, _ in batch]
            for (k, v), result in zip(batch, results, strict=True):
                # A key twice in one request fails both records (DUPLICATE_EXTERNAL_ID), as in Salesforce.
                assert result["success"] is (lowered.count(k.lower()) == 1)
                if result["success"]:
                    expected[k.lower()] = v
        rows = (await c.get("/_sandbox/records/TestCustomer__c")).json()
        assert {r["Ext_Id__c"].lower(): r["Seats__c"] for r in rows} == expected


@FAST
@given(writes=st.lists(st.tuples(KEYS, st.integers(0, 9)), min_size=1, max_size=12), cut=st.integers(1, 5))
def test_batched_upserts_end_in_last_write_per_key(writes: list[tuple[str, int]], cut: int) -> None:
    asyncio.run(_batched_upserts(writes, cut))


ROWS = st.lists(
    st.fixed_dictionaries(
        {"seats": st.one_of(st.none(), st.integers(0, 5)), "plan": st.sampled_from(["a", "b", "c"])}
    ),
    min_size=1,
    max_size=8,
)


async def _soql_matches(rows: list[dict[str, Any]], low: int, plans: set[str]) -> None:
    async with client() as c:
        await login(c)
        for n, row in enumerate(rows):
            body = {"Plan__c": row["plan"], "Seats__c": row["seats"]}
            await c.patch(f"{V}/sobjects/TestCustomer__c/Ext_Id__c/r{n}", json=body)
        in_list = ", ".join(f"'{p}'" for p in sorted(plans))
        soql = (
            f"SELECT Ext_Id__c FROM TestCustomer__c "
            f"WHERE Seats__c >= {low} OR (Plan__c IN ({in_list}) AND Seats__c = null)"
        )
        got = {r["Ext_Id__c"] for r in (await c.get(f"{V}/query", params={"q": soql})).json()["records"]}
    want = {
        f"r{n}"
        for n, row in enumerate(rows)
        if (row["seats"] is not None and row["seats"] >= low)
        or (row["plan"] in plans and row["seats"] is None)
    }
    assert got == want


@FAST
@given(rows=ROWS, low=st.integers(0, 5), plans=st.sets(st.sampled_from(["a", "b", "c"]), min_size=1))
def test_soql_filter_agrees_with_python(rows: list[dict[str, Any]], low: int, plans: set[str]) -> None:
    asyncio.run(_soql_matches(rows, low, plans))
