"""The loaded schema, indexed for the sandbox's hot paths (field, relationship, child lookups)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.salesforce.schema import FieldDef, Schema, SObjectDef


@dataclass(frozen=True)
class ObjectInfo:
    """One SObject with its fields resolved once (Salesforce names are case-insensitive)."""

    sobject: SObjectDef
    ordered: list[FieldDef]
    fields: dict[str, FieldDef]
    relationships: dict[str, FieldDef]
    children: list[tuple[str, FieldDef]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.sobject.name

    @property
    def change_event(self) -> str:
        """`AccountChangeEvent`, or `Foo__ChangeEvent` for custom object `Foo__c`."""
        if self.name.endswith("__c"):
            return self.name[:-1] + "ChangeEvent"
        return self.name + "ChangeEvent"

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        return self.relationships.get(name.lower())

    def external_id_field(self, name: str) -> FieldDef | None:
        """`name` when it is usable as an upsert key (an external id, or Id)."""
        f = self.field(name)
        if f is None or not (f.external_id or f.name == "Id"):
            return None
        return f


class Catalog:
    """Every SObject the sandbox serves."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        infos: dict[str, ObjectInfo] = {}
        for obj in schema.objects.values():
            ordered = obj.all_fields()
            infos[obj.name.lower()] = ObjectInfo(
                sobject=obj,
                ordered=ordered,
                fields={f.name.lower(): f for f in ordered},
                relationships={
                    f.relationship_name.lower(): f for f in ordered if f.relationship_name is not None
                },
            )
        for info in infos.values():
            for f in info.ordered:
                for target in f.reference_to:
                    parent = infos.get(target.lower())
                    if parent is not None and f.name not in ("CreatedById", "LastModifiedById", "OwnerId"):
                        parent.children.append((info.name, f))
        self._by_lower = infos
        self._by_prefix = {i.sobject.key_prefix: i for i in infos.values()}
        self._by_event = {i.change_event.lower(): i for i in infos.values()}

    def get(self, name: str) -> ObjectInfo | None:
        return self._by_lower.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectInfo | None:
        return self._by_prefix.get(prefix)

    def by_change_event(self, event_name: str) -> ObjectInfo | None:
        return self._by_event.get(event_name.lower())

    def all(self) -> list[ObjectInfo]:
        return sorted(self._by_lower.values(), key=lambda i: i.name)
