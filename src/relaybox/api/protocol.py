"""The HTTP/1.1 protocol relaybox serves with: uvicorn's httptools protocol with a bound on the
request head. httptools accepts a request line and headers of any size (a 256 MB header was
read whole), so a client could hold that much memory per connection; past ``MAX_HEAD`` bytes
before the end of the head the connection gets ``431`` and is closed."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD = 64 * 1024  # request line + headers; relaybox's own headers are at most 1 KiB each
_BODY = b"Request header fields are too large"
_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _BODY
)


class BoundedHttpTools(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            # Still inside a head after this chunk: all of it was head.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self.transport.write(_REFUSAL)
                self.transport.close()
