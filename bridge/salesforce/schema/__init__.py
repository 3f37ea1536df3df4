"""The Salesforce objects and fields the bridge works with, kept as data.

One JSON file per object family in this folder (`standard.json`, `orb.json`, `chargebee.json`).
A family may add fields to an object another family defines (`"extends": true`), as the
Chargebee package adds `Chargebee_Id__c` to Account. The sandbox serves `describe` from this,
the mappings are checked against it, and `bridge schema export` writes it as metadata.

File shape::

    {"family": "orb",
     "objects": [
       {"name": "OrbInvoice__c", "label": "Orb Invoice", "labelPlural": "Orb Invoices",
        "keyPrefix": "a02", "custom": true,
        "fields": [
          {"name": "Orb_Id__c", "label": "Orb Id", "type": "string", "length": 255,
           "externalId": true, "unique": true},
          {"name": "Orb_Customer__c", "label": "Orb Customer", "type": "reference",
           "referenceTo": ["OrbCustomer__c"], "relationshipName": "Orb_Customer__r"},
          {"name": "Amount__c", "label": "Amount", "type": "currency", "precision": 18, "scale": 2}
        ]}]}

Standard system fields (Id, Name unless `"nameField": false`, CreatedDate, LastModifiedDate,
SystemModstamp, IsDeleted, CreatedById, LastModifiedById, OwnerId where the object has an
owner) need not be listed: `SObjectDef.all_fields()` adds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from bridge.errors import ConfigError

HERE = Path(__file__).parent

FieldType = Literal[
    "id",
    "string",
    "textarea",
    "boolean",
    "int",
    "double",
    "currency",
    "percent",
    "date",
    "datetime",
    "email",
    "phone",
    "url",
    "picklist",
    "multipicklist",
    "reference",
    # Reported by real orgs' describes; the shipped families never use them.
    "combobox",
    "encryptedstring",
    "long",
    "time",
    "base64",
    "address",
    "location",
    "anyType",
    "complexvalue",
    "json",
]


class FieldDef(BaseModel):
    """One field as `describe` reports it (the subset the bridge relies on)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str
    label: str
    type: FieldType
    length: int | None = Field(None, description="Max characters for text types.")
    precision: int | None = None
    scale: int | None = None
    required: bool = Field(False, description="Not nillable and no default: creates must set it.")
    external_id: bool = Field(False, alias="externalId")
    unique: bool = False
    reference_to: list[str] = Field(default_factory=list, alias="referenceTo")
    relationship_name: str | None = Field(None, alias="relationshipName")
    master_detail: bool = Field(False, alias="masterDetail")
    picklist: list[str] = Field(default_factory=list)
    createable: bool = True
    updateable: bool = True
    description: str | None = None


class SObjectDef(BaseModel):
    """One SObject: its names, key prefix and fields."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str
    label: str
    label_plural: str = Field(alias="labelPlural")
    key_prefix: str = Field(alias="keyPrefix")
    custom: bool = False
    extends: bool = False
    name_field: bool = Field(True, alias="nameField")
    has_owner: bool = Field(True, alias="hasOwner")
    system_fields: bool = Field(
        True,
        alias="systemFields",
        description="Add the system fields not listed; false when `fields` is a full describe.",
    )
    fields: list[FieldDef] = Field(default_factory=list)

    def field(self, name: str) -> FieldDef | None:
        """The field called `name` (case-insensitive, as Salesforce resolves names)."""
        return self._by_lower().get(name.lower())

    def _by_lower(self) -> dict[str, FieldDef]:
        return {f.name.lower(): f for f in self.all_fields()}

    def all_fields(self) -> list[FieldDef]:
        """Declared fields plus the system fields every record has."""
        if not self.system_fields:
            return list(self.fields)
        system = [
            FieldDef(
                name="Id", label=f"{self.label} ID", type="id", length=18, createable=False, updateable=False
            ),
            FieldDef(name="IsDeleted", label="Deleted", type="boolean", createable=False, updateable=False),
            FieldDef(
                name="CreatedDate", label="Created Date", type="datetime", createable=False, updateable=False
            ),
            FieldDef(
                name="CreatedById",
                label="Created By ID",
                type="reference",
                referenceTo=["User"],
                relationshipName="CreatedBy",
                createable=False,
                updateable=False,
            ),
            FieldDef(
                name="LastModifiedDate",
                label="Last Modified Date",
                type="datetime",
                createable=False,
                updateable=False,
            ),
            FieldDef(
                name="LastModifiedById",
                label="Last Modified By ID",
                type="reference",
                referenceTo=["User"],
                relationshipName="LastModifiedBy",
                createable=False,
                updateable=False,
            ),
            FieldDef(
                name="SystemModstamp",
                label="System Modstamp",
                type="datetime",
                createable=False,
                updateable=False,
            ),
        ]
        if self.has_owner:
            system.append(
                FieldDef(
                    name="OwnerId",
                    label="Owner ID",
                    type="reference",
                    referenceTo=["User"],
                    relationshipName="Owner",
                )
            )
        declared = {f.name.lower() for f in self.fields}
        if self.name_field and "name" not in declared:
            system.append(FieldDef(name="Name", label=f"{self.label} Name", type="string", length=80))
        return [f for f in system if f.name.lower() not in declared] + list(self.fields)

    def external_ids(self) -> list[FieldDef]:
        """Fields usable as the key of an upsert."""
        return [f for f in self.all_fields() if f.external_id or f.name == "Id"]


class Family(BaseModel):
    """One schema file."""

    family: str
    objects: list[SObjectDef]


class Schema(BaseModel):
    """Every object of the loaded families, merged by name."""

    objects: dict[str, SObjectDef]

    def get(self, name: str) -> SObjectDef | None:
        """The object called `name`, case-insensitive."""
        lowered = {k.lower(): v for k, v in self.objects.items()}
        return lowered.get(name.lower())

    def by_key_prefix(self, prefix: str) -> SObjectDef | None:
        return next((o for o in self.objects.values() if o.key_prefix == prefix), None)


def families() -> list[str]:
    """Names of the schema families shipped with the bridge."""
    return sorted(p.stem for p in HERE.glob("*.json"))


def load_family(path: Path) -> Family:
    """Parse one schema file; a broken file is a `ConfigError` naming it."""
    try:
        return Family.model_validate(orjson.loads(path.read_bytes()))
    except Exception as exc:
        raise ConfigError(f"schema file {path} is not valid: {exc}") from exc


def merge(parts: Iterable[Family]) -> Schema:
    """Merge families: objects by name, `extends` objects add fields to their base."""
    objects: dict[str, SObjectDef] = {}
    pending: list[SObjectDef] = []
    for fam in parts:
        for obj in fam.objects:
            if obj.extends:
                pending.append(obj)
            elif obj.name in objects:
                raise ConfigError(f"SObject {obj.name} is defined by two schema families")
            else:
                objects[obj.name] = obj
    for ext in pending:
        base = objects.get(ext.name)
        if base is None:
            raise ConfigError(f"schema extends {ext.name}, which no family defines")
        names = {f.name for f in base.fields}
        added = [f for f in ext.fields if f.name not in names]
        objects[ext.name] = base.model_copy(update={"fields": [*base.fields, *added]})
    return Schema(objects=objects)


@lru_cache(maxsize=8)
def load_schema(names: tuple[str, ...] | None = None, extra: tuple[Path, ...] = ()) -> Schema:
    """The shipped families (all, or the named ones) plus extra schema files."""
    wanted = names if names is not None else tuple(families())
    files = [HERE / f"{n}.json" for n in wanted] + list(extra)
    return merge(load_family(p) for p in files)
