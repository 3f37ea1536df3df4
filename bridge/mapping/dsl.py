"""Short constructors for writing default mappings readably (`f(...)`, `ref(...)`)."""

from __future__ import annotations

from bridge.mapping.model import Condition, Conflict, FieldRule, ParentRef, Scalar, Transform


def f(
    target: str,
    source: str | list[str] | None = None,
    transform: Transform = Transform.STR,
    *,
    value: Scalar | None = None,
    default: Scalar | None = None,
    conflict: Conflict = Conflict.OVERWRITE,
    when: Condition | None = None,
) -> FieldRule:
    """A field rule: `target` from `source` (path, template or list of them) or a constant `value`."""
    return FieldRule(
        target=target,
        source=source,
        transform=transform,
        value=value,
        default=default,
        conflict=conflict,
        when=when,
    )


def ref(
    field: str,
    sobject: str,
    external_id_field: str,
    source: str | list[str],
    *,
    relationship: str | None = None,
    conflict: Conflict = Conflict.OVERWRITE,
    when: Condition | None = None,
) -> ParentRef:
    """A lookup by external id; custom `X__c` fields get the relationship `X__r`."""
    if relationship is None:
        if not field.endswith("__c"):
            raise ValueError(f"give the relationship name of standard lookup {field}")
        relationship = field[:-3] + "__r"
    return ParentRef(
        field=field,
        relationship=relationship,
        sobject=sobject,
        external_id_field=external_id_field,
        source=source,
        conflict=conflict,
        when=when,
    )
