"""Duplicate rules: an insert or edit matching a live record on the rule's fields is refused
with DUPLICATES_DETECTED and a `duplicateResult`; alert-level rules let
`Sforce-Duplicate-Rule-Header: allowSave=true` save anyway, block-level rules never do."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bridge.sandbox.salesforce.errors import RecordError
from bridge.sandbox.salesforce.store import Row, Table


class DuplicateRule(BaseModel):
    """One active duplicate rule with its matching rule (exact, case-insensitive match)."""

    model_config = ConfigDict(extra="forbid")

    object: str
    fields: list[str]
    name: str = "Standard_Rule"
    action: Literal["alert", "block"] = "alert"
    message: str = "Use one of these records?"


class DuplicateCheck:
    """The rules in force for one call, and whether the caller asked to save through alerts."""

    def __init__(self, rules: list[DuplicateRule], allow_save: bool) -> None:
        self.rules = rules
        self.allow_save = allow_save

    def check(self, table: Table, row: Row, own_id: str | None) -> None:
        for rule in self.rules:
            if rule.object.lower() != table.info.name.lower():
                continue
            if rule.action == "alert" and self.allow_save:
                continue
            wanted = [_key(row.get(f)) for f in rule.fields]
            if any(w is None for w in wanted):
                continue
            matches = [
                rid
                for rid, other in table.rows.items()
                if rid != own_id
                and not other["IsDeleted"]
                and [_key(other.get(f)) for f in rule.fields] == wanted
            ]
            if matches:
                raise RecordError(
                    "DUPLICATES_DETECTED",
                    rule.message,
                    [],
                    {"duplicateResult": _result(rule, table, matches)},
                )


def _key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _result(rule: DuplicateRule, table: Table, matches: list[str]) -> dict[str, Any]:
    name = table.info.name
    return {
        "allowSave": rule.action == "alert",
        "duplicateRule": rule.name,
        "duplicateRuleEntityType": name,
        "errorMessage": rule.message,
        "matchResults": [
            {
                "entityType": name,
                "errors": [],
                "matchEngine": "ExactMatchEngine",
                "matchRecords": [
                    {
                        "additionalInformation": [],
                        "fieldDiffs": [],
                        "matchConfidence": 100.0,
                        "record": {"attributes": {"type": name}, "Id": rid},
                    }
                    for rid in matches
                ],
                "rule": f"{rule.name}_Match",
                "size": len(matches),
                "success": True,
            }
        ],
    }
