"""`bridge reconcile`: compare what billing holds with what Salesforce holds, report the drift,
and with `repair` publish corrective envelopes for the sync to apply.

Every selected billing object is exported (as backfill does) and mapped by the mapping engine
into the Salesforce records it implies; Salesforce is read by SOQL per SObject (records with an
external id) and compared by external id and mapped values. Drift per SObject: missing (billing
has it, Salesforce does not), extra (Salesforce has the external id, billing no longer has the
object) and different (which fields). A repair is the object's envelope with
`bridge-origin: reconcile` and `bridge-repair` naming the records to write, which the sync
writes even when its version guard remembers the same values as applied. Extras are reported,
never deleted: a person decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import orjson

from bridge import schedule
from bridge.events import HEADER_ORIGIN, HEADER_REPAIR, ORIGIN_RECONCILE, Envelope
from bridge.kafka import Topics, ensure_topics, make_producer
from bridge.logs import get_logger
from bridge.mapping import Mapper, RecordWrite
from bridge.mapping.model import VOLATILE_FIELDS
from bridge.mapping.overrides import ALWAYS_SYNCED
from bridge.ops.backfill import publish_many
from bridge.ops.billing_export import (
    Selection,
    billing_clients,
    configured_mapper,
    envelope_for,
    export_pages,
    for_configured_vendors,
    select,
)
from bridge.runner import PeriodicJob
from bridge.salesforce.client import SalesforceClient
from bridge.salesforce.factory import salesforce_client
from bridge.settings import Settings

log = get_logger("reconcile")

Progress = Callable[[str, int], None]  # (step label, items so far)


@dataclass
class SObjectDrift:
    """The comparison of one SObject."""

    sobject: str
    expected: int = 0
    in_salesforce: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: dict[str, list[str]] = field(default_factory=dict)  # external id → field names
    extras_checked: bool = True  # false when other, unselected mappings also write this SObject

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.different)


@dataclass
class ReconcileReport:
    """The drift found and what was done about it."""

    sobjects: list[SObjectDrift]
    objects_read: int = 0
    repairs_published: int = 0
    records_repaired: int = 0
    repair: bool = False
    dry_run: bool = False
    skipped: list[str] = field(default_factory=list)

    @property
    def drift(self) -> int:
        return sum(s.drift for s in self.sobjects)

    @property
    def repairable(self) -> int:
        return sum(len(s.missing) + len(s.different) for s in self.sobjects)

    @property
    def extra(self) -> int:
        return sum(len(s.extra) for s in self.sobjects)

    @property
    def clean_after_repair(self) -> bool:
        """True when there is no drift, or a (real) repair was published for all of it."""
        if self.drift == 0:
            return True
        return (
            self.repair and not self.dry_run and self.extra == 0 and self.records_repaired == self.repairable
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "drift": self.drift,
            "objects_read": self.objects_read,
            "repair": self.repair,
            "dry_run": self.dry_run,
            "repairs_published": self.repairs_published,
            "records_repaired": self.records_repaired,
            "skipped": self.skipped,
            "sobjects": [
                {
                    "sobject": s.sobject,
                    "expected": s.expected,
                    "in_salesforce": s.in_salesforce,
                    "missing": s.missing,
                    "extra": s.extra,
                    "different": s.different,
                    "extras_checked": s.extras_checked,
                }
                for s in self.sobjects
            ],
        }


@dataclass
class _Expected:
    write: RecordWrite
    envelope: Envelope


async def run_reconcile(
    settings: Settings,
    objects: Sequence[str] | None = None,
    repair: bool = False,
    *,
    dry_run: bool = False,
    page_size: int = 100,
    progress: Progress | None = None,
    salesforce: SalesforceClient | None = None,
) -> ReconcileReport:
    """Compare billing with Salesforce for `objects` (default: the active sync configuration);
    with `repair` (and not `dry_run`) publish corrective envelopes. Callable by a scheduler."""
    mapper = configured_mapper(settings)
    selection = for_configured_vendors(select(mapper, objects), settings, objects)
    observed_at = datetime.now(UTC)
    prefix = f"reconcile-{observed_at.strftime('%Y%m%dT%H%M%S%f')}"
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0)) as http:
        clients = billing_clients(settings, http, {k.vendor for k in selection.kinds})
        expected: dict[str, _Expected] = {}
        read = 0
        for kind in selection.kinds:
            allowed = selection.mappings.get(kind.vendor, frozenset())
            async for page in export_pages(kind, clients[kind.vendor], page_size=page_size):
                for entry in page.items:
                    env = envelope_for(kind, entry, prefix=prefix, observed_at=observed_at)
                    for write in mapper.map_event(env):
                        if write.source.mapping in allowed:
                            _keep(expected, write, env)
                read += len(page.items)
                if progress:
                    progress(kind.label, read)
        sf = salesforce or salesforce_client(settings, http)
        report = ReconcileReport([], read, repair=repair, dry_run=dry_run, skipped=selection.skipped)
        partial = _partially_selected(mapper, selection)
        by_sobject: dict[str, dict[str, _Expected]] = {}
        for exp in expected.values():
            by_sobject.setdefault(exp.write.sobject, {})[exp.write.external_id] = exp
        for sobject in sorted(by_sobject | {s: {} for s in _full_sobjects(mapper, selection)}):
            drift = await _compare(sf, sobject, by_sobject.get(sobject, {}), sobject not in partial)
            report.sobjects.append(drift)
            if progress:
                progress(f"salesforce:{sobject}", drift.in_salesforce)
        if repair:
            await _repair(settings, report, by_sobject, dry_run)
    return report


def _keep(expected: dict[str, _Expected], write: RecordWrite, env: Envelope) -> None:
    # Several objects may imply the same record (embedded copies carry version 0): the
    # highest version is what the sync ends up writing, so it is what Salesforce should hold.
    key = write.key.state_key
    kept = expected.get(key)
    if kept is None or write.version > kept.write.version:
        expected[key] = _Expected(write, env)


def _full_sobjects(mapper: Mapper, selection: Selection) -> set[str]:
    """SObjects the selection writes in full: empty in billing still means check for extras."""
    out = set()
    for vendor, names in selection.mappings.items():
        for name in names:
            om = mapper.mappings[vendor].object(name)
            if om is not None and om.sync_object not in ALWAYS_SYNCED:
                out.add(om.sobject)
    return out


def _partially_selected(mapper: Mapper, selection: Selection) -> set[str]:
    """SObjects also written by mappings outside the selection (or by companions that only
    ride along): records there may come from objects this run did not read, so no extras."""
    out = set()
    for vm in mapper.mappings.values():
        chosen = selection.mappings.get(vm.source, frozenset())
        for om in vm.objects:
            if om.enabled and (om.name not in chosen or om.sync_object in ALWAYS_SYNCED):
                out.add(om.sobject)
    return out


async def _compare(
    sf: SalesforceClient, sobject: str, expected: dict[str, _Expected], check_extras: bool
) -> SObjectDrift:
    drift = SObjectDrift(sobject, expected=len(expected), extras_checked=check_extras)
    ext_fields = {e.write.external_id_field for e in expected.values()}
    columns: dict[str, str] = {}  # mapped field → SOQL column
    for exp in expected.values():
        for name, value in exp.write.fields.items():
            if name in VOLATILE_FIELDS or name in columns:
                continue
            if isinstance(value, dict):
                # A parent reference `Rel__r: {"Ext__c": v}`: compare the parent's external id.
                columns[name] = f"{name}.{next(iter(value), 'Id')}"
            else:
                columns[name] = name
    if not ext_fields:
        ext_fields = await _external_id_fields(sf, sobject)
    for ext_field in sorted(ext_fields):
        select_list = ", ".join(dict.fromkeys(["Id", ext_field, *columns.values()]))
        soql = f"SELECT {select_list} FROM {sobject} WHERE {ext_field} != null"
        seen: set[str] = set()
        async for row in sf.query(soql):
            ext = str(row.get(ext_field))
            seen.add(ext)
            drift.in_salesforce += 1
            match = expected.get(ext)
            if match is None:
                if check_extras:
                    drift.extra.append(ext)
                continue
            changed = [
                name
                for name, value in match.write.fields.items()
                if name in columns and not same_value(value, _column(row, columns[name]))
            ]
            if changed:
                drift.different[ext] = sorted(changed)
        drift.missing.extend(
            sorted(
                e for e, exp in expected.items() if exp.write.external_id_field == ext_field and e not in seen
            )
        )
    drift.extra.sort()
    return drift


async def _external_id_fields(sf: SalesforceClient, sobject: str) -> set[str]:
    # No expected record tells the external id field: ask the org which fields are external ids.
    described = await sf.describe(sobject)
    return {f["name"] for f in described.get("fields", []) if f.get("externalId")}


def _column(row: dict[str, Any], column: str) -> Any:
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def same_value(expected: Any, actual: Any) -> bool:
    """Whether Salesforce's `actual` holds the mapped `expected` (numbers, times, dates and
    empty values compared by meaning, not by spelling)."""
    if isinstance(expected, dict):
        expected = next(iter(expected.values()), None)
    if expected is None or expected == "":
        return actual is None or actual == ""
    if actual is None or actual == "":
        return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(expected) == bool(actual) and type(expected) is type(actual)
    if isinstance(expected, int | float):
        try:
            return abs(float(expected) - float(actual)) <= 1e-6 * max(1.0, abs(float(expected)))
        except (TypeError, ValueError):
            return False
    if isinstance(expected, str) and isinstance(actual, str):
        if (
            expected == actual
            or expected.replace("\r\n", "\n").strip() == actual.replace("\r\n", "\n").strip()
        ):
            return True
        left, right = _when(expected), _when(actual)
        if left is not None and right is not None:
            return left == right
        try:
            return abs(float(expected) - float(actual)) <= 1e-6 * max(1.0, abs(float(expected)))
        except ValueError:
            return False
    return bool(expected == actual)


def _when(text: str) -> datetime | date | None:
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _repair(
    settings: Settings, report: ReconcileReport, by_sobject: dict[str, dict[str, _Expected]], dry_run: bool
) -> None:
    """One corrective envelope per billing object, naming the records it must write."""
    repairs: dict[str, tuple[Envelope, dict[str, str]]] = {}
    for drift in report.sobjects:
        wanted = [(e, "missing") for e in drift.missing] + [(e, "different") for e in drift.different]
        for ext, why in wanted:
            exp = by_sobject[drift.sobject][ext]
            env, records = repairs.setdefault(exp.envelope.event_id, (exp.envelope, {}))
            records[exp.write.key.state_key] = why
    report.records_repaired = sum(len(r) for _, r in repairs.values())
    report.repairs_published = len(repairs)
    if dry_run or not repairs:
        return
    topics = Topics.from_settings(settings)
    await ensure_topics(settings, [topics.orb_events, topics.chargebee_events])
    producer = make_producer(settings)
    await producer.start()
    try:
        for env, records in repairs.values():
            headers = {HEADER_ORIGIN: ORIGIN_RECONCILE, HEADER_REPAIR: orjson.dumps(records).decode()}
            await publish_many(producer, topics.billing(env.source), [env], headers)
    finally:
        await producer.stop()


def periodic_reconcile(settings: Settings, spec: str, repair: bool = True) -> PeriodicJob:
    """Reconcile (with repair by default) on the schedule `spec`, as a job for `bridge run`."""

    async def job() -> str:
        report = await run_reconcile(settings, None, repair)
        log.info(
            "reconcile_done",
            drift=report.drift,
            repaired=report.records_repaired,
            extra=report.extra,
            clean=report.clean_after_repair,
        )
        return f"drift={report.drift} repaired={report.records_repaired}"

    return PeriodicJob("reconcile", schedule.parse(spec), job)
