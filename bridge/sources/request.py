"""The rejection every source raises; the webhook endpoint turns it into the HTTP answer."""

from __future__ import annotations

from bridge.errors import BadInput


class Rejected(BadInput):
    """A request the receiver refuses; `status` is the HTTP answer (400, 401, 403, 413)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail, code=error)
        self.status = status
