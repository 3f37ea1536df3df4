"""What every source needs from an HTTP request: the raw body, bounded, and a rejection type."""

from __future__ import annotations

from starlette.requests import Request

from bridge.errors import BadInput


class Rejected(BadInput):
    """A request the receiver refuses; `status` is the HTTP answer (400, 401, 403, 413)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail, code=error)
        self.status = status


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing with 413 as soon as it exceeds `limit` (without reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise Rejected(413, "too_large", f"body of {declared} bytes exceeds the {limit}-byte limit")
        except ValueError:
            raise Rejected(400, "bad_request", "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, "too_large", f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
