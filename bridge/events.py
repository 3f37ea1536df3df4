"""The event envelope: the one record type on every topic (DESIGN.md §3).

Pure data and codecs, no I/O. The value is one orjson object; headers repeat `source`,
`event_type` and `event_id` so tools can filter without decoding values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_serializer

from bridge.errors import BadInput

Headers = list[tuple[str, bytes]]

HEADER_SOURCE = "source"
HEADER_EVENT_TYPE = "event_type"
HEADER_EVENT_ID = "event_id"
# Who put an event on a billing topic when it was not the vendor's webhook.
HEADER_ORIGIN = "bridge-origin"
ORIGIN_WRITEBACK = "writeback"
ORIGIN_BACKFILL = "backfill"
ORIGIN_RECONCILE = "reconcile"
# On reconcile events: JSON {"<SObject>:<external id>": "missing" | "different"}, the records
# the sync must write even though its version guard remembers them as already applied.
HEADER_REPAIR = "bridge-repair"
# On writeback expectations: "step" marks an in-between state (the first of two vendor calls).
HEADER_EXPECT = "bridge-expect"
EXPECT_STEP = "step"
# On writeback expectations: JSON list of the state keys to remember; the event's other records
# are left alone (absent: all of them).
HEADER_EXPECT_KEYS = "bridge-expect-keys"
# On a dead letter sent back to its topic: the `<dlq topic>:<partition>:<offset>` it came from.
REDRIVEN_FROM = "redriven-from"


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class Envelope(BaseModel):
    """A billing or Salesforce event as the bridge carries it; `payload` is the sender's body."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: str = Field(description="Who sent it: orb, chargebee, salesforce, stripe.")
    event_id: str = Field(description="The sender's event id; repeats are the same event.")
    event_type: str = Field(description="The sender's event type, e.g. invoice.issued.")
    occurred_at: datetime = Field(description="When the change happened at the sender.")
    received_at: datetime = Field(default_factory=utcnow, description="When the bridge got it.")
    object_type: str = Field(description="Kind of object carried: customer, invoice, Account…")
    object_id: str = Field(description="Id of that object at the sender.")
    customer_id: str = Field(description="The partition key: billing customer or Account id.")
    payload: dict[str, Any] = Field(description="The sender's body, untouched.")
    # The sender's raw JSON body when the receiver has it: written into the value as is, so
    # the hot path never re-encodes a payload it has just decoded.
    _raw_payload: bytes | None = PrivateAttr(default=None)

    @classmethod
    def from_webhook(
        cls,
        raw_body: bytes,
        payload: dict[str, Any],
        *,
        source: str,
        event_id: str,
        event_type: str,
        occurred_at: datetime,
        object_type: str,
        object_id: str,
        customer_id: str,
    ) -> Envelope:
        """An envelope around a webhook body already parsed and checked by its source."""
        # What `model_construct` does, without its per-field default handling: this runs once
        # per webhook and `model_construct` cost as much as verifying the HMAC. The source has
        # validated every value; the dict keeps the fields' declared order (model_dump_json).
        env = cls.__new__(cls)
        values = {
            "source": source,
            "event_id": event_id,
            "event_type": event_type,
            "occurred_at": occurred_at,
            "received_at": utcnow(),
            "object_type": object_type,
            "object_id": object_id,
            "customer_id": customer_id,
            "payload": payload,
        }
        _set = object.__setattr__
        _set(env, "__dict__", values)
        _set(env, "__pydantic_fields_set__", set(values))
        _set(env, "__pydantic_extra__", None)
        _set(env, "__pydantic_private__", {"_raw_payload": raw_body})
        return env

    @field_serializer("occurred_at", "received_at")
    def _iso_z(self, value: datetime) -> str:
        if value.tzinfo is not UTC:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if value.microsecond:
            # orjson writes the same text (six digits, Z) several times faster: twice per webhook.
            return orjson.dumps(value, option=orjson.OPT_UTC_Z)[1:-1].decode()
        return value.isoformat(timespec="microseconds")[:-6] + "Z"

    @property
    def key(self) -> bytes:
        """The Kafka key: events of one customer (or Account) share a partition."""
        return self.customer_id.encode()

    def to_bytes(self) -> bytes:
        """The Kafka value."""
        # Read directly: a private attribute through pydantic's __getattr__ costs microseconds.
        raw = (self.__pydantic_private__ or {}).get("_raw_payload")
        if raw is None:
            return orjson.dumps(self.model_dump(mode="json"))
        head = {
            "source": self.source,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": self._iso_z(self.occurred_at),
            "received_at": self._iso_z(self.received_at),
            "object_type": self.object_type,
            "object_id": self.object_id,
            "customer_id": self.customer_id,
            "payload": orjson.Fragment(raw),
        }
        return orjson.dumps(head)

    @classmethod
    def from_bytes(cls, value: bytes) -> Envelope:
        """Decode a Kafka value; a value that is not an envelope is `BadInput`."""
        try:
            return cls.model_validate(orjson.loads(value))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise BadInput(f"not a bridge envelope: {_first_problem(exc)}") from exc

    def headers(self, extra: dict[str, str] | None = None) -> Headers:
        """Kafka headers for this envelope, plus any extra ones."""
        base = {
            HEADER_SOURCE: self.source,
            HEADER_EVENT_TYPE: self.event_type,
            HEADER_EVENT_ID: self.event_id,
        }
        if extra:
            base.update(extra)
        return encode_headers(base)


def encode_headers(values: dict[str, str]) -> Headers:
    """Kafka headers from text values (UTF-8)."""
    return [(name, value.encode()) for name, value in values.items()]


def decode_headers(headers: Any) -> dict[str, str]:
    """Text headers from Kafka's list of (name, bytes); a repeated name keeps its last value."""
    out: dict[str, str] = {}
    for name, raw in headers or ():
        out[name] = raw.decode("utf-8", errors="replace") if raw is not None else ""
    return out


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "value"
        return f"{where}: {err['msg']}"
    return str(exc)
