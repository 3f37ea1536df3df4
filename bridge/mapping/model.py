"""The declarative mapping model: how one billing object becomes Salesforce records.

A `VendorMapping` (one per billing platform) holds `ObjectMapping`s. Each says where the
object sits in the webhook body (`root`), which SObject it becomes, its external id, field
rules, parent references by external id and how its version is read; optionally it fans out
over a list (`each`, e.g. an invoice's line items). `reverse` says which Salesforce fields flow
back to which billing fields (writeback). Pure data, validated with pydantic, no I/O.

Paths (see `bridge.mapping.paths`): `a.b.c` from the current record, `$root.…` the mapped
object when fanning out, `$event.…` the webhook body, `$envelope.…` the bridge envelope,
`$config.…` the vendor options, `$index` the fan-out position; `list[key=value]` picks the
first element whose `key` equals `value`. A source containing `{…}` is a template.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = str | int | float | bool


class Conflict(StrEnum):
    """What to do when Salesforce already holds a value (Chargebee's app offers the same three)."""

    OVERWRITE = "overwrite"
    """Always write the billing value."""
    OVERWRITE_IF_EMPTY = "overwrite_if_empty"
    """Write only while the Salesforce field is empty."""
    MAP_ONLY = "map_only"
    """Write when the record is created, never overwrite afterwards."""


class Transform(StrEnum):
    """How a billing value becomes a Salesforce value."""

    STR = "str"
    TEXT = "text"
    LINES = "lines"
    DECIMAL = "decimal"
    CENTS = "cents"
    INT = "int"
    BOOL = "bool"
    UNIX_DATETIME = "unix_datetime"
    UNIX_DATE = "unix_date"
    ISO_DATETIME = "iso_datetime"
    ISO_DATE = "iso_date"
    ACCOUNT_ID = "account_id"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Condition(_Frozen):
    """A test on the current record: `path` equals `equals`, is one of `one_of`, or is present."""

    path: str
    equals: Scalar | None = None
    one_of: list[Scalar] | None = None


class FieldRule(_Frozen):
    """One target field: from `source` (first that yields a value), else `default`; or a constant."""

    target: str
    source: str | list[str] | None = None
    value: Scalar | None = Field(None, description="Constant written when there is no source.")
    default: Scalar | None = Field(None, description="Written when every source is missing or null.")
    transform: Transform = Transform.STR
    conflict: Conflict = Conflict.OVERWRITE
    when: Condition | None = None

    @cached_property
    def sources(self) -> tuple[str, ...]:
        """The candidate source paths/templates, in order."""
        if self.source is None:
            return ()
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)

    @property
    def is_constant(self) -> bool:
        return self.source is None


class ParentRef(_Frozen):
    """A lookup written as `relationship: {external_id_field: value}` (no Salesforce Id needed)."""

    field: str = Field(description="The lookup field on this SObject, e.g. Orb_Customer__c.")
    relationship: str = Field(description="Its relationship name, e.g. Orb_Customer__r.")
    sobject: str = Field(description="The parent SObject, e.g. OrbCustomer__c.")
    external_id_field: str = Field(description="The parent's external id field, e.g. Orb_Id__c.")
    source: str | list[str]
    conflict: Conflict = Conflict.OVERWRITE
    when: Condition | None = None

    @cached_property
    def sources(self) -> tuple[str, ...]:
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)


class KeyRule(_Frozen):
    """The external id this record is upserted by."""

    field: str
    source: str | list[str]

    @cached_property
    def sources(self) -> tuple[str, ...]:
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)


class VersionRule(_Frozen):
    """Where the record's version comes from: an integer (Chargebee) or a timestamp (Orb)."""

    sources: list[str] = Field(default_factory=list)
    kind: Literal["int", "timestamp", "constant"] = "int"
    value: int = 0


class ObjectMapping(_Frozen):
    """One billing object (or each element of one of its lists) → one SObject record."""

    name: str = Field(description="Unique within the vendor, e.g. invoice_line_item.")
    sync_object: str = Field(description="The name used to select it (BRIDGE_SYNC_OBJECTS).")
    sobject: str
    root: str = Field(description="Path of the object in the webhook body, e.g. content.invoice.")
    embedded_in: list[str] = Field(
        default_factory=list,
        description="Other paths where a copy appears; those writes carry version 0 so they "
        "create a missing parent but never override a direct event.",
    )
    each: str | None = Field(None, description="Fan out over this list of the root object.")
    where: Condition | None = Field(None, description="Only map (fan-out) records passing this.")
    event_types: list[str] = Field(default_factory=lambda: ["*"], description="fnmatch patterns.")
    skip_event_types: list[str] = Field(default_factory=list)
    external_id: KeyRule
    version: VersionRule
    fields: list[FieldRule] = Field(default_factory=list)
    parents: list[ParentRef] = Field(default_factory=list)
    enabled: bool = True
    companion: bool = Field(
        False, description="Only written alongside other records of the same event (the CB site)."
    )
    synced_at_field: str | None = Field(
        None,
        description="A datetime field stamped with the time of every write (sync status, e.g. "
        "Last_Synced_At__c); outside the no-op digest, so it never causes a write on its own.",
    )

    @model_validator(mode="after")
    def _targets_unique(self) -> ObjectMapping:
        seen: set[str] = set()
        for target in [r.target for r in self.fields] + [p.field for p in self.parents]:
            if target.lower() in seen:
                raise ValueError(f"mapping {self.name}: field {target} is mapped twice")
            seen.add(target.lower())
        return self


class ReverseField(_Frozen):
    """A Salesforce field that flows back to a billing field (dotted: billing_address.city)."""

    salesforce: str
    billing: str
    transform: Literal["str", "int", "bool"] = "str"


class ReverseMapping(_Frozen):
    """Salesforce → billing for one SObject (used by writeback, Account → customer)."""

    sobject: str
    billing_object: str
    key_field: str = Field(description="Salesforce field holding the billing key.")
    billing_key: str = Field(
        description="What that key is at the billing platform: id, external_customer_id."
    )
    require_true: list[str] = Field(
        default_factory=list, description="Checkbox fields that must be true (e.g. Sync_with_Chargebee__c)."
    )
    fields: list[ReverseField]


class VendorMapping(_Frozen):
    """Everything the bridge maps for one billing platform."""

    source: str
    objects: list[ObjectMapping]
    reverse: list[ReverseMapping] = Field(default_factory=list)
    options: dict[str, Scalar] = Field(default_factory=dict)
    missing_is_null: bool = Field(
        False, description="The vendor omits unset attributes (Chargebee): an absent key clears the field."
    )

    @model_validator(mode="after")
    def _names_unique(self) -> VendorMapping:
        names = [o.name for o in self.objects]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"{self.source}: mapping names repeated: {', '.join(dupes)}")
        return self

    def object(self, name: str) -> ObjectMapping | None:
        """The object mapping called `name`."""
        return next((o for o in self.objects if o.name == name), None)


# Fields the vendors bump on every save; they never make a write worth its API call alone.
# The bridge's own sync-status stamp is left out for the same reason.
VOLATILE_FIELDS = frozenset({"Chargebee_Modified_Time__c", "Resource_Version__c", "Last_Synced_At__c"})


@dataclass(frozen=True, slots=True)
class RecordKey:
    """Identifies one Salesforce record by external id; `state_key` is the sync-state topic key."""

    sobject: str
    external_id_field: str
    external_id: str

    @property
    def state_key(self) -> str:
        return f"{self.sobject}:{self.external_id}"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Which billing object (and event) a write came from."""

    source: str
    object_type: str
    object_id: str
    event_id: str
    event_type: str
    mapping: str


@dataclass(frozen=True, slots=True)
class RecordWrite:
    """One upsert by external id. `fields` always overwrite (and hold parent references as
    `Rel__r: {"Ext__c": v}`); `fill_if_empty` only while Salesforce is empty; `create_only`
    only when the record is new. Lower `rank` first: parents before children."""

    key: RecordKey
    fields: dict[str, Any]
    version: int
    rank: int
    source: SourceRef
    fill_if_empty: dict[str, Any] = field(default_factory=dict)
    create_only: dict[str, Any] = field(default_factory=dict)
    parents: tuple[RecordKey, ...] = ()
    synced_at_field: str | None = None

    @property
    def sobject(self) -> str:
        return self.key.sobject

    @property
    def external_id_field(self) -> str:
        return self.key.external_id_field

    @property
    def external_id(self) -> str:
        return self.key.external_id

    def digest(self) -> str:
        """A stable hash of the mapped values (the version guard's no-op check).

        Bookkeeping fields that the vendor bumps on every save (modified time, resource
        version) are left out: a change that only touches them is not worth a write, and the
        bridge can predict the digest of its own writeback before the vendor answers.
        """

        def business(values: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in values.items() if k not in VOLATILE_FIELDS}

        values = {
            "f": business(self.fields),
            "e": business(self.fill_if_empty),
            "c": business(self.create_only),
        }
        return hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]

    def body(
        self,
        *,
        creating: bool = False,
        current: Mapping[str, Any] | None = None,
        synced_at: str | None = None,
    ) -> dict[str, Any]:
        """The sObject Collections record (`attributes` + fields). `create_only` fields go in
        when `creating`; `fill_if_empty` ones when creating or empty in `current` (the
        Salesforce values, when the caller fetched them); `synced_at` (a Salesforce datetime)
        into `synced_at_field` when the mapping has one."""
        out: dict[str, Any] = {"attributes": {"type": self.key.sobject}}
        if creating:
            out.update(self.fill_if_empty)
            out.update(self.create_only)
        elif current is not None:
            out.update({k: v for k, v in self.fill_if_empty.items() if current.get(k) in (None, "")})
        out.update(self.fields)
        if synced_at is not None and self.synced_at_field:
            out[self.synced_at_field] = synced_at
        out[self.key.external_id_field] = self.key.external_id
        return out
