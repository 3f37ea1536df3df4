"""uvicorn's httptools protocol with a bound on the request head (request line + headers).

httptools buffers a request head of any size (a 20 MB header was accepted), and uvicorn's
`h11_max_incomplete_event_size` applies only to h11. So a client could pin memory by sending,
or dribbling, huge headers on many connections. This protocol answers 431 and closes, without
parsing further, once a head would grow past `MAX_HEAD_BYTES`. Bodies are bounded by the app (413).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that refuses a request head larger than `MAX_HEAD_BYTES` with 431."""

    _head_bytes = 0
    _in_head = True
    _tail = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._start_head()
        super().connection_made(transport)

    def _start_head(self) -> None:
        self._head_bytes = 0
        self._in_head = True
        self._tail = b""

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._start_head()  # a keep-alive connection's next request starts a new head

    def data_received(self, data: bytes) -> None:
        # Measured before parsing, whatever the chunking: a head that arrives whole in one read
        # must be refused as surely as one dribbled in small pieces.
        if self._in_head and not self.transport.is_closing():
            size = self._head_bytes + len(data)
            if size > MAX_HEAD_BYTES:  # only then can it matter where the head ends
                end = (self._tail + data).find(b"\r\n\r\n")
                if end < 0 or self._head_bytes + end + 4 - len(self._tail) > MAX_HEAD_BYTES:
                    self._refuse_head()
                    return
            self._head_bytes = size
            self._tail = data[-3:]
        super().data_received(data)

    def _refuse_head(self) -> None:
        body = b'{"error":"headers_too_large","detail":"request line and headers exceed 65536 bytes"}'
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()
