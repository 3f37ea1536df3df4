"""The mapping engine: an envelope in, the Salesforce upserts it implies out. Pure.

`Mapper.map_event` walks every enabled object mapping of the envelope's source, reads the
object at its root (and the copies `embedded_in` other objects), fans out over lists, applies
the field rules and returns `RecordWrite`s ordered parents first. An event nothing maps gives
`[]` (the consumer counts it as unmapped). A value that cannot be converted is `BadInput`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from bridge.errors import BadInput, ConfigError
from bridge.events import Envelope
from bridge.mapping.model import (
    Condition,
    Conflict,
    FieldRule,
    ObjectMapping,
    RecordKey,
    RecordWrite,
    SourceRef,
    Transform,
    VendorMapping,
)
from bridge.mapping.paths import MISSING, Scope, lookup, resolve, walk
from bridge.mapping.transforms import Skip, apply, timestamp_ms
from bridge.salesforce.schema import Schema

RANK_STEP = 10


def dependency_ranks(mapping: VendorMapping) -> dict[str, int]:
    """Rank of every SObject the mapping writes: 0 for roots, parents always lower."""
    edges: dict[str, set[str]] = {}
    for om in mapping.objects:
        if not om.enabled:
            continue
        parents = edges.setdefault(om.sobject, set())
        parents.update(p.sobject for p in om.parents if p.sobject != om.sobject)
    ranks: dict[str, int] = {}

    def depth(sobject: str, trail: tuple[str, ...]) -> int:
        if sobject in trail:
            cycle = " → ".join((*trail, sobject))
            raise ConfigError(f"{mapping.source} mapping has a reference cycle: {cycle}")
        if sobject not in ranks:
            ups = edges.get(sobject, set())
            ranks[sobject] = 1 + max((depth(p, (*trail, sobject)) for p in ups), default=-1)
        return ranks[sobject]

    for sobject in edges:
        depth(sobject, ())
    return {s: d * RANK_STEP for s, d in ranks.items()}


class Mapper:
    """Maps envelopes with a fixed set of vendor mappings (one per source)."""

    def __init__(self, mappings: Iterable[VendorMapping], schema: Schema | None = None) -> None:
        """`schema`, when given, caps text values at their field's length (Salesforce would
        reject the whole record with STRING_TOO_LONG)."""
        self.mappings: dict[str, VendorMapping] = {}
        self._ranks: dict[str, dict[str, int]] = {}
        self._limits: dict[str, dict[str, int]] = {}
        self._companions: dict[str, frozenset[str]] = {}
        for vm in mappings:
            if vm.source in self.mappings:
                raise ConfigError(f"two mappings for source {vm.source}")
            self.mappings[vm.source] = vm
            self._ranks[vm.source] = dependency_ranks(vm)
            self._companions[vm.source] = frozenset(o.name for o in vm.objects if o.companion)
            if schema is not None:
                for om in vm.objects:
                    self._limits.setdefault(om.sobject, _text_limits(schema, om.sobject))

    def map_event(self, envelope: Envelope) -> list[RecordWrite]:
        """The upserts `envelope` implies, parents first; [] when nothing maps it."""
        vm = self.mappings.get(envelope.source)
        if vm is None:
            return []
        ranks = self._ranks[vm.source]
        env = {
            "event_id": envelope.event_id,
            "event_type": envelope.event_type,
            "occurred_at": envelope.occurred_at,
            "object_type": envelope.object_type,
            "object_id": envelope.object_id,
            "customer_id": envelope.customer_id,
        }
        best: dict[RecordKey, RecordWrite] = {}
        order: list[RecordKey] = []
        for om in vm.objects:
            if not om.enabled or not _event_matches(om, envelope.event_type):
                continue
            limits = self._limits.get(om.sobject)
            for write in _map_object(vm, om, envelope, env, ranks[om.sobject]):
                if limits:
                    _cap(write, limits)
                kept = best.get(write.key)
                if kept is None:
                    order.append(write.key)
                    best[write.key] = write
                elif write.version > kept.version:
                    best[write.key] = write
        writes = [best[k] for k in order]
        companions = self._companions[vm.source]
        if all(w.source.mapping in companions for w in writes):
            return []
        writes.sort(key=lambda w: w.rank)
        return writes


def _text_limits(schema: Schema, sobject: str) -> dict[str, int]:
    obj = schema.get(sobject)
    if obj is None:
        return {}
    return {
        f.name: f.length
        for f in obj.all_fields()
        if f.type in ("string", "textarea") and f.length is not None
    }


def _cap(write: RecordWrite, limits: dict[str, int]) -> None:
    # The dicts are fresh, built for this write only: trimming them in place is safe.
    for values in (write.fields, write.fill_if_empty, write.create_only):
        for name, value in values.items():
            limit = limits.get(name)
            if limit is not None and isinstance(value, str) and len(value) > limit:
                values[name] = value[:limit]


def _event_matches(om: ObjectMapping, event_type: str) -> bool:
    if any(fnmatchcase(event_type, p) for p in om.skip_event_types):
        return False
    return any(fnmatchcase(event_type, p) for p in om.event_types)


def _map_object(
    vm: VendorMapping, om: ObjectMapping, envelope: Envelope, env: Mapping[str, Any], rank: int
) -> Iterator[RecordWrite]:
    payload = envelope.payload
    roots = [(om.root, False)] + [(p, True) for p in om.embedded_in]
    for root_path, embedded in roots:
        obj = walk(payload, root_path)
        if not isinstance(obj, Mapping):
            continue
        items: list[tuple[int | None, Any]]
        if om.each is None:
            items = [(None, obj)]
        else:
            listed = walk(obj, om.each)
            items = list(enumerate(listed)) if isinstance(listed, list) else []
        for index, record in items:
            if not isinstance(record, Mapping):
                raise BadInput(f"{om.name}: {root_path}.{om.each}[{index}] is not an object")
            scope = Scope(record, obj, payload, env, vm.options, index)
            if om.where is not None and not _holds(scope, om.where):
                continue
            yield _build(vm, om, envelope, scope, rank, embedded, root_path)


def _build(
    vm: VendorMapping,
    om: ObjectMapping,
    envelope: Envelope,
    scope: Scope,
    rank: int,
    embedded: bool,
    root_path: str,
) -> RecordWrite:
    ext_id = _first_text(scope, om.external_id.sources)
    if ext_id is None:
        where = root_path if om.each is None else f"{root_path}.{om.each}[{scope.index}]"
        raise BadInput(f"{om.name}: no external id at {where} ({', '.join(om.external_id.sources)})")
    fields: dict[str, Any] = {}
    fill_if_empty: dict[str, Any] = {}
    create_only: dict[str, Any] = {}
    buckets = {
        Conflict.OVERWRITE: fields,
        Conflict.OVERWRITE_IF_EMPTY: fill_if_empty,
        Conflict.MAP_ONLY: create_only,
    }
    missing_is_null = vm.missing_is_null and not embedded
    for rule in om.fields:
        if rule.when is not None and not _holds(scope, rule.when):
            continue
        found, value = _field_value(om, rule, scope, missing_is_null)
        if found:
            buckets[rule.conflict][rule.target] = value
    parents: list[RecordKey] = []
    for ref in om.parents:
        if ref.when is not None and not _holds(scope, ref.when):
            continue
        parent_id = _first_text(scope, ref.sources)
        if parent_id is None:
            continue
        buckets[ref.conflict][ref.relationship] = {ref.external_id_field: parent_id}
        parents.append(RecordKey(ref.sobject, ref.external_id_field, parent_id))
    version = 0 if embedded else _version(om, scope, envelope)
    root_id = scope.root.get("id") if isinstance(scope.root, Mapping) else None
    source = SourceRef(
        source=vm.source,
        object_type=envelope.object_type,
        object_id=str(root_id) if root_id is not None else envelope.object_id,
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        mapping=om.name,
    )
    return RecordWrite(
        key=RecordKey(om.sobject, om.external_id.field, ext_id),
        fields=fields,
        version=version,
        rank=rank,
        source=source,
        fill_if_empty=fill_if_empty,
        create_only=create_only,
        parents=tuple(parents),
        synced_at_field=om.synced_at_field,
    )


def _field_value(om: ObjectMapping, rule: FieldRule, scope: Scope, missing_is_null: bool) -> tuple[bool, Any]:
    if rule.is_constant:
        return True, rule.value
    saw_null = False
    for source in rule.sources:
        raw = lookup(scope, source)
        if raw is MISSING:
            continue
        if raw is None or raw == "":
            saw_null = True
            continue
        try:
            return True, apply(rule.transform, raw)
        except Skip:
            continue
        except ValueError as exc:
            raise BadInput(f"{om.name}: field {rule.target} from {source}: {exc}") from exc
    if rule.default is not None:
        return True, rule.default
    # Checkboxes cannot hold null in Salesforce, and a skipped Account Id is no answer.
    if rule.transform in (Transform.BOOL, Transform.ACCOUNT_ID):
        return False, None
    if saw_null or missing_is_null:
        return True, None
    return False, None


def _first_text(scope: Scope, sources: Sequence[str]) -> str | None:
    for source in sources:
        got = lookup(scope, source)
        if got is not MISSING and got is not None and got != "":
            return str(got)
    return None


def _holds(scope: Scope, cond: Condition) -> bool:
    got = resolve(scope, cond.path)
    if cond.equals is not None:
        return got is not MISSING and got == cond.equals
    if cond.one_of is not None:
        return got is not MISSING and got in cond.one_of
    return got is not MISSING and got is not None


def _version(om: ObjectMapping, scope: Scope, envelope: Envelope) -> int:
    rule = om.version
    if rule.kind == "constant":
        return rule.value
    for source in rule.sources:
        got = resolve(scope, source)
        if got is MISSING or got is None:
            continue
        try:
            if rule.kind == "int" and not isinstance(got, bool):
                return int(got)
            return timestamp_ms(got)
        except (TypeError, ValueError) as exc:
            raise BadInput(f"{om.name}: version from {source} is not usable: {got!r}") from exc
    return timestamp_ms(envelope.occurred_at)


def preview(envelope: Envelope, mapper: Mapper) -> list[dict[str, Any]]:
    """The sObject Collections upserts `envelope` would produce (dry run), parents first."""
    writes = mapper.map_event(envelope)
    requests: list[dict[str, Any]] = []
    for write in writes:
        url = f"/composite/sobjects/{write.sobject}/{write.external_id_field}"
        if requests and requests[-1]["url"] == url:
            requests[-1]["records"].append(_preview_record(write))
            continue
        requests.append(
            {"method": "PATCH", "url": url, "rank": write.rank, "records": [_preview_record(write)]}
        )
    return requests


def _preview_record(write: RecordWrite) -> dict[str, Any]:
    return {
        "record": write.body(creating=True),
        "version": write.version,
        "fill_if_empty": sorted(write.fill_if_empty),
        "create_only": sorted(write.create_only),
        "mapping": write.source.mapping,
    }
