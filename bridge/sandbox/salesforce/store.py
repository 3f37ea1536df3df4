"""In-memory records with external-id indexes and an undo log (for allOrNone rollbacks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.sandbox.salesforce.catalog import Catalog, ObjectInfo

Row = dict[str, Any]
ChangeType = Literal["CREATE", "UPDATE", "DELETE", "UNDELETE"]


def index_key(value: Any) -> str:
    """External ids match case-insensitively, as Salesforce's default external id fields do."""
    return str(value).lower()


class Table:
    """Rows of one SObject by 18-character id; deleted rows stay (IsDeleted) for queryAll."""

    def __init__(self, info: ObjectInfo) -> None:
        self.info = info
        self.rows: dict[str, Row] = {}
        self._indexed = [f.name for f in info.ordered if f.external_id or f.unique]
        self._index: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexed}

    def find(self, field_name: str, value: Any) -> list[str]:
        """Live record ids whose external-id `field_name` equals `value`."""
        idx = self._index.get(field_name)
        if idx is not None:
            return sorted(idx.get(index_key(value), ()))
        key = index_key(value)
        return [
            rid
            for rid, row in self.rows.items()
            if not row["IsDeleted"] and row.get(field_name) is not None and index_key(row[field_name]) == key
        ]

    def live(self, record_id: str) -> Row | None:
        row = self.rows.get(record_id)
        return row if row is not None and not row["IsDeleted"] else None

    def put(self, record_id: str, row: Row | None) -> None:
        """Store `row` (None removes it entirely) and keep the indexes true."""
        old = self.rows.get(record_id)
        for name in self._indexed:
            idx = self._index[name]
            if old is not None and not old["IsDeleted"] and old.get(name) is not None:
                idx.get(index_key(old[name]), set()).discard(record_id)
            if row is not None and not row["IsDeleted"] and row.get(name) is not None:
                idx.setdefault(index_key(row[name]), set()).add(record_id)
        if row is None:
            self.rows.pop(record_id, None)
        else:
            self.rows[record_id] = row


@dataclass
class Change:
    """One committed record change, the raw material of a CDC event."""

    entity: str
    record_id: str
    change_type: ChangeType
    changed: list[str]
    nulled: list[str]
    values: Row


@dataclass
class Txn:
    """Writes of one API call: undone together on rollback, published together on commit."""

    store: Store
    changes: list[Change] = field(default_factory=list)
    undo: list[tuple[Table, str, Row | None]] = field(default_factory=list)

    def write(self, table: Table, record_id: str, row: Row, change: Change) -> None:
        self.undo.append((table, record_id, table.rows.get(record_id)))
        table.put(record_id, row)
        self.changes.append(change)

    def savepoint(self) -> tuple[int, int]:
        return len(self.undo), len(self.changes)

    def rollback(self, to: tuple[int, int] = (0, 0)) -> None:
        """Undo every write after the savepoint `to` (default: all of them)."""
        undo_len, change_len = to
        while len(self.undo) > undo_len:
            table, rid, old = self.undo.pop()
            table.put(rid, old)
        del self.changes[change_len:]


class Store:
    """All tables of the org."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.tables: dict[str, Table] = {i.name: Table(i) for i in catalog.all()}

    def table(self, name: str) -> Table:
        return self.tables[name]

    def begin(self) -> Txn:
        return Txn(self)

    def locate(self, record_id: str) -> tuple[Table, Row] | None:
        """The table and row of any id, found by its key prefix."""
        info = self.catalog.by_prefix(record_id[:3])
        if info is None:
            return None
        table = self.tables[info.name]
        row = table.rows.get(record_id)
        return (table, row) if row is not None else None

    def reset(self, keep: tuple[str, ...] = ()) -> None:
        """Empty every table except those named in `keep`."""
        for t in list(self.tables.values()):
            if t.info.name not in keep:
                self.tables[t.info.name] = Table(t.info)
