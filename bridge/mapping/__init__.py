"""Declarative billing → Salesforce mappings (and the fields that flow back). No I/O.

mapper = build_mapper(chargebee_site="acme")
writes = mapper.map_event(envelope)        # list[RecordWrite], parents first
problems = check_mapping(mapper.mappings["orb"], load_schema())
"""

from __future__ import annotations

from bridge.mapping.check import Problem, check_mapping, check_mappings, touched_sobjects
from bridge.mapping.engine import Mapper, dependency_ranks, preview
from bridge.mapping.model import (
    Condition,
    Conflict,
    FieldRule,
    KeyRule,
    ObjectMapping,
    ParentRef,
    RecordKey,
    RecordWrite,
    ReverseField,
    ReverseMapping,
    SourceRef,
    Transform,
    VendorMapping,
    VersionRule,
)
from bridge.mapping.overrides import (
    Overrides,
    apply_overrides,
    load_overrides,
    parse_overrides,
    select_objects,
)
from bridge.mapping.registry import build_mapper, chargebee_site_from_url, default_mappings, map_event
from bridge.mapping.reverse import ReverseUpdate, reverse_update

__all__ = [
    "Condition",
    "Conflict",
    "FieldRule",
    "KeyRule",
    "Mapper",
    "ObjectMapping",
    "Overrides",
    "ParentRef",
    "Problem",
    "RecordKey",
    "RecordWrite",
    "ReverseField",
    "ReverseMapping",
    "ReverseUpdate",
    "SourceRef",
    "Transform",
    "VendorMapping",
    "VersionRule",
    "apply_overrides",
    "build_mapper",
    "chargebee_site_from_url",
    "check_mapping",
    "check_mappings",
    "default_mappings",
    "dependency_ranks",
    "load_overrides",
    "map_event",
    "parse_overrides",
    "preview",
    "reverse_update",
    "select_objects",
    "touched_sobjects",
]
