"""Fault injection for API calls: errors, latency and dropped connections, for N calls or a share."""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FaultKind = Literal["server_error", "unable_to_lock_row", "request_limit_exceeded", "latency", "drop"]


class Fault(BaseModel):
    """One fault rule (the body of `POST /_sandbox/faults`)."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    count: int | None = Field(None, ge=1, description="Hit the next N matching calls.")
    share: float | None = Field(None, gt=0, le=1, description="Hit this share of matching calls.")
    match: str = Field("", description="Only calls whose kind starts with this (e.g. 'collections').")
    status: int = Field(503, description="HTTP status for server_error.")
    latency_ms: int = Field(0, ge=0, description="Delay before answering (kind latency).")
    after: bool = Field(False, description="drop: apply the call first, then drop the answer.")
    per_record: bool = Field(
        False, description="unable_to_lock_row on a collection: fail each record (200) instead of the call."
    )

    @model_validator(mode="after")
    def _count_or_share(self) -> Fault:
        if (self.count is None) == (self.share is None):
            raise ValueError("give exactly one of count or share")
        return self


class FaultPlan:
    """The active fault rules; `pick` consumes one hit of the first rule matching a call."""

    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[Fault] = []
        self._remaining: list[int | None] = []
        self._random = random.Random(seed)
        self.injected: dict[str, int] = {}

    def add(self, fault: Fault) -> None:
        self.rules.append(fault)
        self._remaining.append(fault.count)

    def clear(self) -> None:
        self.rules.clear()
        self._remaining.clear()

    def pick(self, call_kind: str) -> Fault | None:
        for i, rule in enumerate(self.rules):
            if not call_kind.startswith(rule.match):
                continue
            left = self._remaining[i]
            if left is not None:
                if left <= 0:
                    continue
                self._remaining[i] = left - 1
            elif self._random.random() >= (rule.share or 0.0):
                continue
            self.injected[rule.kind] = self.injected.get(rule.kind, 0) + 1
            return rule
        return None
