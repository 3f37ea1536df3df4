"""The envelope: pure codec behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import BadInput, BrokerUnavailable, PermanentError, TransientError, is_transient
from bridge.events import Envelope, decode_headers, encode_headers


def _env(**kw: object) -> Envelope:
    base: dict[str, object] = dict(
        source="chargebee",
        event_id="ev_1",
        event_type="customer_changed",
        occurred_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        object_type="customer",
        object_id="cb_1",
        customer_id="cb_1",
        payload={"content": {"customer": {"id": "cb_1"}}},
    )
    base.update(kw)
    return Envelope.model_validate(base)


def test_times_are_written_as_utc_with_z() -> None:
    env = _env(occurred_at=datetime(2026, 3, 1, 14, tzinfo=timezone(timedelta(hours=2))))
    value = orjson.loads(env.to_bytes())
    assert value["occurred_at"] == "2026-03-01T12:00:00.000000Z"
    assert value["received_at"].endswith("Z")
    assert set(value) == {
        "source",
        "event_id",
        "event_type",
        "occurred_at",
        "received_at",
        "object_type",
        "object_id",
        "customer_id",
        "payload",
    }


def test_value_that_is_not_json_is_bad_input_naming_the_problem() -> None:
    with pytest.raises(BadInput, match="not a bridge envelope"):
        Envelope.from_bytes(b"{not json")


def test_value_missing_a_field_is_bad_input_naming_the_field() -> None:
    value = orjson.loads(_env().to_bytes())
    del value["customer_id"]
    with pytest.raises(BadInput, match="customer_id"):
        Envelope.from_bytes(orjson.dumps(value))


@given(
    event_id=st.text(min_size=1, max_size=40),
    customer=st.text(min_size=1, max_size=40),
    payload=st.dictionaries(
        st.text(max_size=10), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10), max_size=5
    ),
)
def test_any_envelope_round_trips(event_id: str, customer: str, payload: dict[str, object]) -> None:
    env = _env(event_id=event_id, customer_id=customer, payload=payload)
    assert Envelope.from_bytes(env.to_bytes()) == env
    assert env.key == customer.encode()


def test_headers_repeat_source_type_and_id() -> None:
    headers = _env().headers({"replayed-from": "x:1:2"})
    assert decode_headers(headers) == {
        "source": "chargebee",
        "event_type": "customer_changed",
        "event_id": "ev_1",
        "replayed-from": "x:1:2",
    }
    assert decode_headers(encode_headers({"a": "é"})) == {"a": "é"}


def test_error_hierarchy_tells_transient_from_permanent() -> None:
    assert is_transient(BrokerUnavailable("down"))
    assert is_transient(TransientError("5xx", retry_after=3))
    assert not is_transient(BadInput("bad"))
    assert isinstance(BadInput("bad"), PermanentError)
    assert not is_transient(ValueError("bug"))
