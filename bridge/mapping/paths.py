"""Reading values out of webhook bodies by path, and filling `{…}` templates. Pure.

`resolve` returns `MISSING` when a key is absent and `None` when the body says null, so the
engine can tell "not sent" (leave Salesforce alone) from "cleared" (write null).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
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


_ROOTS = frozenset({"$root", "$event", "$envelope", "$config"})
Step = tuple[str, str | None]


@lru_cache(maxsize=4096)
def _compile(path: str) -> tuple[str | None, tuple[Step, ...] | None]:
    """Split a path once: (root name or None for the record, steps); steps None if malformed."""
    head, _, rest = path.partition(".")
    if head in _ROOTS:
        root: str | None = head
    else:
        root, rest = None, path
    if not rest:
        return root, ()
    steps: list[Step] = []
    for segment in rest.split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            return root, None
        steps.append((match.group("key"), match.group("sel")))
    return root, tuple(steps)


def resolve(scope: Scope, path: str) -> Any:
    """The value at `path` in `scope` (MISSING when absent)."""
    if path == "$index":
        return MISSING if scope.index is None else scope.index
    root, steps = _compile(path)
    base: Any
    if root is None:
        base = scope.record
    elif root == "$root":
        base = scope.root
    elif root == "$event":
        base = scope.event
    elif root == "$envelope":
        base = scope.envelope
    else:
        base = scope.config
    return MISSING if steps is None else _walk_steps(base, steps)


def walk(value: Any, path: str) -> Any:
    """Follow a dotted path with optional `[key=value]` or `[n]` selectors."""
    _, steps = _compile(path) if not path.startswith("$") else (None, None)
    return MISSING if steps is None else _walk_steps(value, steps)


def _walk_steps(value: Any, steps: tuple[Step, ...]) -> Any:
    current = value
    for key, sel in steps:
        if current is None:
            return None
        if key:
            # Webhook bodies are decoded JSON: plain dicts (any Mapping works, more slowly).
            if type(current) is dict:
                if key not in current:
                    return MISSING
                current = current[key]
            elif isinstance(current, Mapping) and key in current:
                current = current[key]
            else:
                return MISSING
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
    """Fill a template. `{path}` must resolve, `{path?}` may be empty. A required placeholder
    that is null makes the result None (the value was cleared); one that is absent, or no
    placeholder resolving, makes it MISSING; otherwise the stripped text."""
    found = False
    lacking = False
    nulled = False

    def sub(match: re.Match[str]) -> str:
        nonlocal found, lacking, nulled
        path = match.group(1)
        optional = path.endswith("?")
        got = resolve(scope, path.rstrip("?"))
        if got is MISSING or got is None or got == "":
            if not optional:
                lacking = True
                nulled = nulled or got is None
            return ""
        found = True
        return str(got)

    text = _PLACEHOLDER.sub(sub, template).strip()
    if lacking:
        return None if nulled else MISSING
    return text if found and text else MISSING


def lookup(scope: Scope, source: str) -> Any:
    """A path or a template, whichever `source` is."""
    return render(scope, source) if is_template(source) else resolve(scope, source)
