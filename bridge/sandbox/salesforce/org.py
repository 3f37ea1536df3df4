"""The sandbox org: records, users, sessions, API usage, events, jobs and faults in one place."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.salesforce.schema import Schema, load_schema
from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.catalog import Catalog
from bridge.sandbox.salesforce.cdc import RETENTION_SECONDS, EventLog
from bridge.sandbox.salesforce.clock import Clock, SandboxClock, sf_datetime
from bridge.sandbox.salesforce.duplicates import DuplicateCheck, DuplicateRule
from bridge.sandbox.salesforce.faults import FaultPlan
from bridge.sandbox.salesforce.store import Change, Store, Txn
from bridge.sandbox.salesforce.usage import ApiUsage
from bridge.sandbox.salesforce.writes import ParsedRecord, Writer

ORG_ID = "00D5g000000SBXEAA4"
VERSIONS = [f"{v}.0" for v in range(31, 63)]


def version_label(version: str) -> str:
    """`59.0` → `Winter '24` (three releases a year since v20.0, Winter '11)."""
    n = int(float(version)) - 20
    season = ("Winter", "Spring", "Summer")[n % 3]
    return f"{season} '{11 + n // 3:02d}"


@dataclass
class SandboxConfig:
    """Options of `create_app` (each documented there)."""

    username: str = "integration@bridge.sandbox"
    password: str = "sandbox-password"
    security_token: str = ""
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    jwt_public_key: str | None = None
    jwt_audiences: tuple[str, ...] = (
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        "https://localhost",
    )
    token_lifetime: float = 2 * 3600
    api_allowance: int = 100_000
    query_batch_size: int = 2000
    long_poll_timeout: float = 110.0
    cometd_client_ttl: float = 40.0
    event_retention: float = RETENTION_SECONDS
    event_capacity: int = 500_000
    instance_url: str | None = None
    fault_seed: int | None = None
    outbound_rules: list[Any] = field(default_factory=list)
    outbound_retry_seconds: float = 1.0
    outbound_transport: Any = None
    duplicate_rules: list[Any] = field(default_factory=list)


@dataclass
class Session:
    user_id: str
    expires_at: float


@dataclass
class Org:
    """Everything the sandbox remembers; handlers receive it through `request.app.state.org`."""

    schema: Schema
    config: SandboxConfig
    clock: SandboxClock
    catalog: Catalog = field(init=False)
    store: Store = field(init=False)
    minter: ids.IdMinter = field(default_factory=ids.IdMinter)
    usage: ApiUsage = field(init=False)
    events: EventLog = field(init=False)
    faults: FaultPlan = field(init=False)
    counts: Counter[str] = field(default_factory=Counter)
    sessions: dict[str, Session] = field(default_factory=dict)
    integration_user_id: str = ""
    commit_listeners: list[Callable[[list[Change]], None]] = field(default_factory=list)
    query_cursors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    jobs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.catalog = Catalog(self.schema)
        self.store = Store(self.catalog)
        self.usage = ApiUsage(self.clock, self.config.api_allowance)
        self.events = EventLog(
            self.catalog, self.clock, self.config.event_retention, self.config.event_capacity
        )
        self.events.store = self.store
        self.faults = FaultPlan(self.config.fault_seed)
        self._seed_users()

    def _seed_users(self) -> None:
        self.integration_user_id = self.user_named("Integration User", username=self.config.username)

    def reset(self) -> None:
        """Forget every record and event; users keep their ids (CDC commitUser stays comparable),
        sessions and the API usage are kept too."""
        self.store.reset(keep=("User",))
        self.events.reset()
        self.counts.clear()
        self.faults.clear()
        self.jobs.clear()
        self.query_cursors.clear()

    def now(self) -> str:
        return sf_datetime(self.clock())

    def user_named(self, name: str, *, username: str | None = None) -> str:
        """The id of the User called `name`, created (silently, without CDC) when missing."""
        table = self.store.table("User")
        for rid, row in table.rows.items():
            if row.get("Name") == name and not row["IsDeleted"]:
                return rid
        first, _, last = name.rpartition(" ")
        login = username or f"{name.lower().replace(' ', '.')}@bridge.sandbox"
        rec = ParsedRecord(
            values={
                "FirstName": first or None,
                "LastName": last,
                "Username": login,
                "Email": login,
                "Alias": (last or name)[:8].lower(),
                "IsActive": True,
            }
        )
        txn = self.store.begin()
        writer = Writer(self.store, self.minter, self.integration_user_id or "005000000000000AAA", self.now())
        info = self.catalog.get("User")
        assert info is not None
        return writer.save(txn, info, rec, None)

    def writer(self, user_id: str, *, allow_save: bool = False) -> Writer:
        """A writer for one call; `allow_save` is `Sforce-Duplicate-Rule-Header: allowSave=true`."""
        rules = [
            r if isinstance(r, DuplicateRule) else DuplicateRule.model_validate(r)
            for r in self.config.duplicate_rules
        ]
        return Writer(
            self.store, self.minter, user_id, self.now(), duplicates=DuplicateCheck(rules, allow_save)
        )

    def commit(self, txn: Txn, *, user_id: str, change_origin: str) -> None:
        """Publish the transaction's changes (CDC, outbound workflow)."""
        if not txn.changes:
            return
        self.events.publish(txn.changes, commit_user=user_id, change_origin=change_origin)
        for listener in self.commit_listeners:
            listener(txn.changes)

    def issue_token(self, user_id: str) -> str:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        self.sessions[token] = Session(user_id, self.clock() + self.config.token_lifetime)
        return token

    def session_user(self, token: str) -> str | None:
        session = self.sessions.get(token)
        if session is None:
            return None
        if session.expires_at <= self.clock():
            del self.sessions[token]
            return None
        return session.user_id

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every live record by SObject (the control API's view of the org)."""
        return {
            name: [dict(r) for r in t.rows.values() if not r["IsDeleted"]]
            for name, t in self.store.tables.items()
            if any(not r["IsDeleted"] for r in t.rows.values())
        }


def make_org(
    schema: Schema | None = None, config: SandboxConfig | None = None, clock: Clock | None = None
) -> Org:
    return Org(schema=schema or load_schema(), config=config or SandboxConfig(), clock=SandboxClock(clock))
