"""Saving one record the way Salesforce validates it.

Parsing (`parse_json_record`, `parse_csv_record`) fails the way Salesforce's deserializer does:
in a JSON request that fails the whole call. Saving (`Writer.save`) fails per record, so inside a
collection only that record fails (or, with allOrNone, every record rolls back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.salesforce.schema import FieldDef
from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.catalog import Catalog, ObjectInfo
from bridge.sandbox.salesforce.derived import DERIVED
from bridge.sandbox.salesforce.duplicates import DuplicateCheck
from bridge.sandbox.salesforce.errors import RecordError
from bridge.sandbox.salesforce.store import Change, Row, Store, Txn
from bridge.sandbox.salesforce.values import BadValue, from_csv, from_json

_SYSTEM = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)
_TEXT_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist"}


@dataclass(frozen=True)
class ParentRef:
    """`Parent__r: {"Ext__c": value}`: a lookup set through the parent's external id."""

    lookup: FieldDef
    target: ObjectInfo
    key: FieldDef
    value: Any


@dataclass
class ParsedRecord:
    """Field values in stored form, keyed by the field's proper name."""

    values: dict[str, Any] = field(default_factory=dict)
    refs: list[ParentRef] = field(default_factory=list)


def no_such_column(name: str, info: ObjectInfo) -> RecordError:
    return RecordError("INVALID_FIELD", f"No such column '{name}' on sobject of type {info.name}", [])


def _parent_ref(catalog: Catalog, info: ObjectInfo, lookup: FieldDef, body: Any, key: str) -> ParentRef:
    if not isinstance(body, dict):
        raise no_such_column(key, info)
    attrs = body.get("attributes") or {}
    target_name = attrs.get("type") if isinstance(attrs, dict) else None
    target_name = target_name or (lookup.reference_to[0] if lookup.reference_to else "")
    target = catalog.get(str(target_name))
    keys = [k for k in body if k != "attributes"]
    if target is None or len(keys) != 1:
        raise RecordError(
            "INVALID_FIELD", f"A foreign key reference on {key} must name exactly one external id field", []
        )
    ext = target.external_id_field(keys[0])
    if ext is None:
        raise RecordError(
            "INVALID_FIELD",
            f"Field name provided, {keys[0]} is not an External ID or indexed field for {target.name}",
            [],
        )
    return ParentRef(lookup=lookup, target=target, key=ext, value=body[keys[0]])


def parse_json_record(catalog: Catalog, info: ObjectInfo, body: dict[str, Any]) -> ParsedRecord:
    """Deserialize one JSON record (`attributes` ignored); raises `RecordError`."""
    out = ParsedRecord()
    for key, raw in body.items():
        if key == "attributes":
            continue
        fdef = info.field(key)
        if fdef is not None:
            try:
                out.values[fdef.name] = from_json(fdef, raw)
            except BadValue as bad:
                raise RecordError("JSON_PARSER_ERROR", bad.json_message(), []) from None
            continue
        lookup = info.relationship(key)
        if lookup is None or lookup.type != "reference":
            raise no_such_column(key, info)
        out.refs.append(_parent_ref(catalog, info, lookup, raw, key))
    return out


def parse_csv_record(catalog: Catalog, info: ObjectInfo, row: dict[str, str]) -> ParsedRecord:
    """One Bulk API 2.0 CSV row (`Parent__r.Ext__c` columns set lookups by external id)."""
    out = ParsedRecord()
    for column, text in row.items():
        if text == "":
            continue
        if "." in column:
            rel, _, key = column.partition(".")
            lookup = info.relationship(rel)
            if lookup is None:
                raise no_such_column(column, info)
            out.refs.append(_parent_ref(catalog, info, lookup, {key: text}, rel))
            continue
        fdef = info.field(column)
        if fdef is None:
            raise no_such_column(column, info)
        try:
            out.values[fdef.name] = from_csv(fdef, text)
        except BadValue as bad:
            raise RecordError("INVALID_TYPE_ON_FIELD_IN_RECORD", bad.csv_message(), [fdef.name]) from None
    return out


class Writer:
    """Applies validated saves inside a transaction, as one user at one instant."""

    def __init__(
        self,
        store: Store,
        minter: ids.IdMinter,
        user_id: str,
        now: str,
        duplicates: DuplicateCheck | None = None,
    ) -> None:
        self.store = store
        self.minter = minter
        self.user_id = user_id
        self.now = now
        self.duplicates = duplicates

    def save(self, txn: Txn, info: ObjectInfo, rec: ParsedRecord, existing: Row | None) -> str:
        """Create (`existing` None) or update one record; returns its id or raises `RecordError`."""
        values = dict(rec.values)
        values.pop("Id", None)
        self._check_access(info, values, creating=existing is None)
        for ref in rec.refs:
            values[ref.lookup.name] = self._resolve(ref)
        self._check_references(info, values)
        table = self.store.table(info.name)
        if existing is None:
            row: Row = {f.name: (False if f.type == "boolean" else None) for f in info.ordered}
            row.update(values)
            record_id = self.minter.mint(info.sobject.key_prefix)
            row.update(
                Id=record_id,
                IsDeleted=False,
                CreatedDate=self.now,
                CreatedById=self.user_id,
                LastModifiedDate=self.now,
                LastModifiedById=self.user_id,
                SystemModstamp=self.now,
            )
            if info.sobject.has_owner and row.get("OwnerId") is None:
                row["OwnerId"] = self.user_id
        else:
            record_id = existing["Id"]
            row = {**existing, **values}
        derive = DERIVED.get(info.name)
        if derive is not None:
            derive(row, self.store)
        self._check_row(info, row, record_id)
        if self.duplicates is not None:
            self.duplicates.check(
                self.store.table(info.name), row, record_id if existing is not None else None
            )
        if existing is None:
            shown = {k: v for k, v in row.items() if v is not None and k not in ("IsDeleted", "Id")}
            txn.write(table, record_id, row, Change(info.name, record_id, "CREATE", [], [], shown))
            return record_id
        changed = [k for k, v in row.items() if k not in _SYSTEM and existing.get(k) != v]
        row.update(LastModifiedDate=self.now, LastModifiedById=self.user_id, SystemModstamp=self.now)
        if changed:
            # CometD change events carry the changed fields (nulled ones as null), LastModifiedDate,
            # and LastModifiedById only when another user saved the record last.
            nulled = [k for k in changed if row[k] is None]
            shown = {k: row[k] for k in changed}
            system = ["LastModifiedDate"]
            if existing.get("LastModifiedById") != self.user_id:
                system.append("LastModifiedById")
            shown.update({k: row[k] for k in system})
            change = Change(info.name, record_id, "UPDATE", [*changed, *system], nulled, shown)
            txn.write(table, record_id, row, change)
        else:
            table.put(record_id, row)
        return record_id

    def delete(self, txn: Txn, info: ObjectInfo, record_id: str) -> None:
        """Move a record (and its master-detail children) to the recycle bin."""
        table = self.store.table(info.name)
        row = table.live(record_id)
        if row is None:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
        gone = {**row, "IsDeleted": True, "SystemModstamp": self.now}
        txn.write(table, record_id, gone, Change(info.name, record_id, "DELETE", [], [], {}))
        for child_name, fdef in info.children:
            if not fdef.master_detail:
                continue
            child = self.store.table(child_name)
            for cid, crow in list(child.rows.items()):
                if crow.get(fdef.name) == record_id and not crow["IsDeleted"]:
                    self.delete(txn, child.info, cid)

    def _check_access(self, info: ObjectInfo, values: dict[str, Any], *, creating: bool) -> None:
        blocked = []
        for name in values:
            fdef = info.field(name)
            if fdef is None:
                continue
            if (creating and not fdef.createable) or (not creating and not fdef.updateable):
                blocked.append(fdef.name)
        if blocked:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(blocked)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                blocked,
            )

    def _resolve(self, ref: ParentRef) -> str:
        table = self.store.table(ref.target.name)
        if ref.key.name == "Id":
            rid = ids.normalize(str(ref.value))
            found = [rid] if rid is not None and table.live(rid) is not None else []
        else:
            found = table.find(ref.key.name, ref.value)
        if not found:
            raise RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {ref.value} not found for field {ref.key.name} "
                f"in entity {ref.target.name}",
                [],
            )
        if len(found) > 1:
            raise RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {ref.value} matched more than one record for field "
                f"{ref.key.name} in entity {ref.target.name}",
                [],
            )
        return found[0]

    def _check_references(self, info: ObjectInfo, values: dict[str, Any]) -> None:
        for name, value in list(values.items()):
            fdef = info.field(name)
            if fdef is None or fdef.type != "reference" or value is None:
                continue
            rid = ids.normalize(str(value))
            if rid is None:
                raise RecordError(
                    "MALFORMED_ID", f"{fdef.label}: id value of incorrect type: {value}", [fdef.name]
                )
            found = self.store.locate(rid)
            if found is None or found[1]["IsDeleted"] or found[0].info.name not in fdef.reference_to:
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
            values[name] = rid

    def _check_row(self, info: ObjectInfo, row: Row, record_id: str) -> None:
        missing = [
            f.name
            for f in info.ordered
            if f.required and f.createable and (row.get(f.name) is None or row.get(f.name) == "")
        ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        for f in info.ordered:
            value = row.get(f.name)
            if f.type in _TEXT_TYPES and f.length and isinstance(value, str) and len(value) > f.length:
                raise RecordError(
                    "STRING_TOO_LONG",
                    f"{f.label}: data value too large: {value} (max length={f.length})",
                    [f.name],
                )
        table = self.store.table(info.name)
        for f in info.ordered:
            if f.unique and row.get(f.name) is not None:
                clash = [rid for rid in table.find(f.name, row[f.name]) if rid != record_id]
                if clash:
                    raise RecordError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: {clash[0]}",
                        [],
                    )
