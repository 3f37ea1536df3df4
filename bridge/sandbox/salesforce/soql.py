"""A SOQL subset: SELECT fields (one-level relationship paths, COUNT()) FROM one object,
WHERE with AND/OR/NOT/IN/NOT IN/LIKE/comparisons/null, ORDER BY, LIMIT, OFFSET.

Errors are Salesforce's: MALFORMED_QUERY for syntax, INVALID_TYPE for an unknown object,
INVALID_FIELD for an unknown field or relationship.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.salesforce.schema import FieldDef
from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.catalog import Catalog, ObjectInfo
from bridge.sandbox.salesforce.errors import SfApiError
from bridge.sandbox.salesforce.store import Row, Store
from bridge.sandbox.salesforce.values import parse_datetime

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:\\.|[^'\\])*')
    | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "in",
    "like",
    "order",
    "by",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "limit",
    "offset",
    "null",
    "true",
    "false",
    "includes",
    "excludes",
}
_WSDL = "Please reference your WSDL or the describe call for the appropriate names."
_HINT_OBJECT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    + _WSDL
)
_HINT_FIELD = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    + _WSDL
)
_HINT_RELATIONSHIP = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    f"relationship name. {_WSDL}"
)
_NUMERIC = {"int", "double", "currency", "percent"}


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class Path:
    """A resolved field path: the field, and the lookup it is reached through (if any)."""

    text: str
    fdef: FieldDef
    via: FieldDef | None = None
    target: ObjectInfo | None = None


@dataclass
class Cond:
    op: str
    path: Path | None = None
    value: Any = None
    parts: list[Cond] = field(default_factory=list)


@dataclass
class Query:
    info: ObjectInfo
    count_only: bool
    fields: list[Path]
    where: Cond | None
    order: list[tuple[Path, bool, bool]]
    limit: int | None
    offset: int


def malformed(soql: str, tok: Tok | None) -> SfApiError:
    if tok is None:
        return SfApiError(
            400, "MALFORMED_QUERY", f"\n{soql}\n^\nERROR at Row:1:Column:{len(soql)}\nunexpected end of query"
        )
    col = tok.pos + 1
    return SfApiError(
        400,
        "MALFORMED_QUERY",
        f"\n{soql}\n{' ' * tok.pos}^\nERROR at Row:1:Column:{col}\nunexpected token: {tok.text}",
    )


def tokenize(soql: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    stripped = soql.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None or m.end() == pos:
            start = len(stripped) - len(stripped[pos:].lstrip())
            raise malformed(soql, Tok("bad", stripped[start : start + 1], start))
        kind = m.lastgroup or ""
        text = m.group(kind)
        start = m.start(kind)
        if kind == "word" and text.lower() in _KEYWORDS:
            kind = text.lower()
        out.append(Tok(kind, text, start))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, soql: str, catalog: Catalog) -> None:
        self.soql = soql
        self.catalog = catalog
        self.toks = tokenize(soql)
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, *kinds: str) -> Tok:
        tok = self.peek()
        if tok is None or (kinds and tok.kind not in kinds):
            raise malformed(self.soql, tok)
        self.i += 1
        return tok

    def accept(self, kind: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == kind:
            self.i += 1
            return True
        return False

    def parse(self) -> Query:
        self.take("select")
        raw_fields: list[Tok] = []
        count_only = False
        first = self.peek()
        if first is not None and first.kind == "word" and first.text.lower() == "count":
            self.i += 1
            self.take("punct")
            if self.take("punct").text != ")":
                raise malformed(self.soql, self.toks[self.i - 1])
            count_only = True
        else:
            raw_fields.append(self.take("word"))
            while self.accept_punct(","):
                raw_fields.append(self.take("word"))
        self.take("from")
        obj_tok = self.take("word")
        info = self.catalog.get(obj_tok.text)
        if info is None:
            raise SfApiError(
                400,
                "INVALID_TYPE",
                f"\n{self.soql}\n{' ' * obj_tok.pos}^\nERROR at Row:1:Column:{obj_tok.pos + 1}\n"
                f"sObject type '{obj_tok.text}' is not supported. {_HINT_OBJECT}",
            )
        self.info = info
        fields = [self.path(t) for t in raw_fields]
        where = None
        if self.accept("where"):
            where = self.or_expr()
        order: list[tuple[Path, bool, bool]] = []
        if self.accept("order"):
            self.take("by")
            while True:
                p = self.path(self.take("word"))
                desc = False
                if self.accept("desc"):
                    desc = True
                else:
                    self.accept("asc")
                nulls_last = desc
                if self.accept("nulls"):
                    nulls_last = self.take("first", "last").kind == "last"
                order.append((p, desc, nulls_last))
                if not self.accept_punct(","):
                    break
        limit = None
        offset = 0
        if self.accept("limit"):
            limit = int(self.take("num").text)
        if self.accept("offset"):
            offset = int(self.take("num").text)
        if self.peek() is not None:
            raise malformed(self.soql, self.peek())
        return Query(info, count_only, fields, where, order, limit, offset)

    def accept_punct(self, ch: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == ch:
            self.i += 1
            return True
        return False

    def path(self, tok: Tok) -> Path:
        info = self.info
        parts = tok.text.split(".")
        if len(parts) > 1 and parts[0].lower() == info.name.lower():
            parts = parts[1:]
        if len(parts) == 1:
            fdef = info.field(parts[0])
            if fdef is None:
                raise self.no_column(parts[0], info)
            return Path(fdef.name, fdef)
        if len(parts) == 2:
            via = info.relationship(parts[0])
            target = self.catalog.get(via.reference_to[0]) if via is not None and via.reference_to else None
            if via is None or target is None:
                raise SfApiError(
                    400,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{parts[0]}' in field path. {_HINT_RELATIONSHIP}",
                )
            fdef = target.field(parts[1])
            if fdef is None:
                raise self.no_column(parts[1], target)
            return Path(f"{via.relationship_name}.{fdef.name}", fdef, via, target)
        raise malformed(self.soql, tok)

    def no_column(self, name: str, info: ObjectInfo) -> SfApiError:
        return SfApiError(
            400,
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{info.name}'. {_HINT_FIELD}",
        )

    def or_expr(self) -> Cond:
        parts = [self.and_expr()]
        while self.accept("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Cond("or", parts=parts)

    def and_expr(self) -> Cond:
        parts = [self.not_expr()]
        while self.accept("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else Cond("and", parts=parts)

    def not_expr(self) -> Cond:
        if self.accept("not"):
            return Cond("not", parts=[self.not_expr()])
        if self.accept_punct("("):
            inner = self.or_expr()
            if not self.accept_punct(")"):
                raise malformed(self.soql, self.peek())
            return inner
        path = self.path(self.take("word"))
        if self.accept("not"):
            self.take("in")
            return Cond("not in", path, self.value_list(path))
        if self.accept("in"):
            return Cond("in", path, self.value_list(path))
        if self.accept("like"):
            tok = self.take("str")
            return Cond("like", path, _like_regex(_unquote(tok.text)))
        op = self.take("op").text
        return Cond("!=" if op == "<>" else op, path, self.literal(path))

    def value_list(self, path: Path) -> list[Any]:
        if not self.accept_punct("("):
            raise malformed(self.soql, self.peek())
        values = [self.literal(path)]
        while self.accept_punct(","):
            values.append(self.literal(path))
        if not self.accept_punct(")"):
            raise malformed(self.soql, self.peek())
        return values

    def literal(self, path: Path) -> Any:
        tok = self.take("str", "num", "date", "dt", "null", "true", "false")
        t = path.fdef.type
        if tok.kind == "null":
            return None
        if tok.kind in ("true", "false"):
            if t != "boolean":
                raise self.bad_filter(path, tok)
            return tok.kind == "true"
        if t in _NUMERIC:
            if tok.kind != "num":
                raise self.bad_filter(path, tok)
            return float(tok.text)
        if t == "date":
            if tok.kind != "date":
                raise self.bad_filter(path, tok)
            return tok.text
        if t == "datetime":
            if tok.kind != "dt":
                raise self.bad_filter(path, tok)
            return parse_datetime(tok.text)
        if t == "boolean" or tok.kind != "str":
            raise self.bad_filter(path, tok)
        text = _unquote(tok.text)
        if t in ("id", "reference"):
            text = ids.normalize(text) or text
        return text.lower()

    def bad_filter(self, path: Path, tok: Tok) -> SfApiError:
        quoted = (
            ""
            if path.fdef.type in _NUMERIC | {"boolean", "date", "datetime"}
            else " and should be enclosed in quotes"
        )
        return SfApiError(
            400,
            "INVALID_QUERY_FILTER_OPERATOR",
            f"\n{self.soql}\n{' ' * tok.pos}^\nERROR at Row:1:Column:{tok.pos + 1}\n"
            f"value of filter criterion for field '{path.fdef.name}' must be of type "
            f"{path.fdef.type}{quoted}",
        )


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text[1:-1])


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{out}$", re.IGNORECASE | re.DOTALL)


def parse(soql: str, catalog: Catalog) -> Query:
    """Parse and resolve `soql` against the schema; raises `SfApiError`."""
    if not soql.strip():
        raise SfApiError(400, "MALFORMED_QUERY", "unexpected end of query")
    return _Parser(soql, catalog).parse()


def _value(path: Path, row: Row, store: Store) -> Any:
    if path.via is None:
        return row.get(path.fdef.name)
    parent_id = row.get(path.via.name)
    if parent_id is None:
        return None
    found = store.locate(parent_id)
    return found[1].get(path.fdef.name) if found is not None else None


def value_of(path: Path, row: Row, store: Store) -> Any:
    """The value of `path` (a field, or a parent's field) for `row`."""
    return _value(path, row, store)


def _comparable(fdef: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if fdef.type in _NUMERIC:
        return float(value)
    if fdef.type == "datetime":
        return parse_datetime(value) if isinstance(value, str) else value
    if isinstance(value, str) and fdef.type != "date":
        return value.lower()
    return value


def matches(cond: Cond, row: Row, store: Store) -> bool:
    """True when `row` passes the WHERE condition `cond`."""
    return _matches(cond, row, store)


def _matches(cond: Cond, row: Row, store: Store) -> bool:
    if cond.op == "and":
        return all(_matches(c, row, store) for c in cond.parts)
    if cond.op == "or":
        return any(_matches(c, row, store) for c in cond.parts)
    if cond.op == "not":
        return not _matches(cond.parts[0], row, store)
    assert cond.path is not None
    actual = _comparable(cond.path.fdef, _value(cond.path, row, store))
    if cond.op == "like":
        return isinstance(actual, str) and bool(cond.value.match(actual))
    if cond.op in ("in", "not in"):
        hit = actual in cond.value
        return hit if cond.op == "in" else not hit
    if cond.op == "=":
        return bool(actual == cond.value)
    if cond.op == "!=":
        return bool(actual != cond.value)
    if actual is None or cond.value is None:
        return False
    if cond.op == "<":
        return bool(actual < cond.value)
    if cond.op == "<=":
        return bool(actual <= cond.value)
    if cond.op == ">":
        return bool(actual > cond.value)
    return bool(actual >= cond.value)


def run(query: Query, store: Store, *, include_deleted: bool) -> list[Row]:
    """The matching rows, ordered, limited."""
    rows = [
        r
        for r in store.table(query.info.name).rows.values()
        if (include_deleted or not r["IsDeleted"])
        and (query.where is None or _matches(query.where, r, store))
    ]
    for path, desc, nulls_last in reversed(query.order):
        present = [r for r in rows if _value(path, r, store) is not None]
        missing = [r for r in rows if _value(path, r, store) is None]
        present.sort(key=_row_key(path, store), reverse=desc)
        rows = present + missing if nulls_last else missing + present
    rows = rows[query.offset :]
    if query.limit is not None:
        rows = rows[: query.limit]
    return rows


def _row_key(path: Path, store: Store) -> Callable[[Row], Any]:
    return lambda row: _sort_key(path.fdef, _value(path, row, store))


def _sort_key(fdef: FieldDef, value: Any) -> Any:
    v = _comparable(fdef, value)
    if isinstance(v, datetime):
        return v.timestamp()
    return v


def shape(query: Query, row: Row, store: Store, base: str) -> dict[str, Any]:
    """One query result record: `attributes`, plain fields, and nested parent objects."""
    info = query.info
    out: dict[str, Any] = {
        "attributes": {"type": info.name, "url": f"{base}/sobjects/{info.name}/{row['Id']}"}
    }
    for path in query.fields:
        if path.via is None:
            out[path.fdef.name] = row.get(path.fdef.name)
            continue
        rel = path.via.relationship_name or ""
        parent_id = row.get(path.via.name)
        found = store.locate(parent_id) if parent_id else None
        if found is None:
            out[rel] = None
            continue
        nested = out.get(rel)
        if not isinstance(nested, dict):
            pinfo = found[0].info
            nested = {"attributes": {"type": pinfo.name, "url": f"{base}/sobjects/{pinfo.name}/{parent_id}"}}
            out[rel] = nested
        nested[path.fdef.name] = found[1].get(path.fdef.name)
    return out
