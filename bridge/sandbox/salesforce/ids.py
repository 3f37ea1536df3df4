"""Salesforce record ids: key prefix + 12 characters, plus the 3-character case-safe suffix."""

from __future__ import annotations

import itertools
import string

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_VALID = frozenset(_BASE62)


def case_safe_suffix(id15: str) -> str:
    """The 3 characters Salesforce appends so an id survives case-insensitive systems."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX[bits])
    return "".join(out)


def normalize(record_id: str) -> str | None:
    """The 18-character form of a 15- or 18-character id; None when it is not an id."""
    if len(record_id) not in (15, 18) or not set(record_id) <= _VALID:
        return None
    id15 = record_id[:15]
    return id15 + case_safe_suffix(id15)


class IdMinter:
    """Hands out fresh, unique 18-character ids for a key prefix."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def mint(self, key_prefix: str) -> str:
        n = next(self._counter)
        digits = []
        for _ in range(10):
            n, rem = divmod(n, 62)
            digits.append(_BASE62[rem])
        id15 = f"{key_prefix}5g{''.join(reversed(digits))}"
        return id15 + case_safe_suffix(id15)
