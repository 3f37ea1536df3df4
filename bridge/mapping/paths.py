"""Reading values out of webhook bodies by path, and filling `{…}` templates. Pure.

`resolve` returns `MISSING` when a key is absent and `None` when the body says null, so the
engine can tell "not sent" (leave Salesforce alone) from "cleared" (write null).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_SEGMENT = re.compile(r"^(?P<key>[^\[\]]*)(?:\[(?P<sel>[^\]]+)\])?$")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class Scope:
    """What paths can see: the current record, the mapped object, the event, config, index."""

    record: Any
    root: Any
    event: Mapping[str, Any]
    envelope: Mapping[str, Any]
    config: Mapping[str, Any]
    index: int | None = None


def is_template(source: str) -> bool:
    """True when `source` is a template (`{a}_{b}`) rather than a path."""
    return "{" in source


def resolve(scope: Scope, path: str) -> Any:
    """The value at `path` in `scope` (MISSING when absent)."""
    if path == "$index":
        return MISSING if scope.index is None else scope.index
    head, _, rest = path.partition(".")
    base: Any
    if head == "$root":
        base = scope.root
    elif head == "$event":
        base = scope.event
    elif head == "$envelope":
        base = scope.envelope
    elif head == "$config":
        base = scope.config
    else:
        base, rest = scope.record, path
    return walk(base, rest) if rest else base


def walk(value: Any, path: str) -> Any:
    """Follow a dotted path with optional `[key=value]` or `[n]` selectors."""
    current = value
    for segment in path.split("."):
        if current is None:
            return None
        match = _SEGMENT.match(segment)
        if match is None:
            return MISSING
        key, sel = match.group("key"), match.group("sel")
        if key:
            if not isinstance(current, Mapping) or key not in current:
                return MISSING
            current = current[key]
        if sel is not None:
            current = _select(current, sel)
            if current is MISSING:
                return MISSING
    return current


def _select(value: Any, sel: str) -> Any:
    if not isinstance(value, list):
        return MISSING if value is not None else None
    if sel.isdigit():
        idx = int(sel)
        return value[idx] if idx < len(value) else MISSING
    key, _, wanted = sel.partition("=")
    for item in value:
        if isinstance(item, Mapping) and str(item.get(key)) == wanted:
            return item
    return MISSING


def render(scope: Scope, template: str) -> Any:
    """Fill a template. `{path}` must resolve, `{path?}` may be empty; MISSING when a required
    placeholder is empty or nothing resolved, else the stripped text."""
    found = False
    lacking = False

    def sub(match: re.Match[str]) -> str:
        nonlocal found, lacking
        path = match.group(1)
        optional = path.endswith("?")
        got = resolve(scope, path.rstrip("?"))
        if got is MISSING or got is None or got == "":
            lacking = lacking or not optional
            return ""
        found = True
        return str(got)

    text = _PLACEHOLDER.sub(sub, template).strip()
    return text if found and text and not lacking else MISSING


def lookup(scope: Scope, source: str) -> Any:
    """A path or a template, whichever `source` is."""
    return render(scope, source) if is_template(source) else resolve(scope, source)
