"""A deliberately small HTTP/1.1 client on asyncio streams, and the requests of the route API.

Why not httpx: the load generator must not be the bottleneck, and httpx spends tens of
microseconds per request in Python that a benchmark client does not need. Here a request is
pre-built bytes plus a few formatted headers, and a response is parsed just enough (status,
headers, Content-Length or chunked body).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from relaybox.auth.signing import receive_key, send_key

BOUNDARY = "relayboxbenchboundary7MA4YWxkTrZu0gW"
READ_CHUNK = 1 << 20


@dataclass
class Response:
    status: int
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes = b""
    # perf_counter() when the last byte of the body was read: "holding the bytes".
    done_at: float = 0.0

    def header(self, name: str) -> str:
        return self.headers.get(name.lower().encode(), b"").decode("latin-1")

    def error_code(self) -> str:
        """``code=NNN`` of the ``error`` header (or the HTTP status when there is none)."""
        value = self.header("error")
        return value.split(";")[0].strip() if value else f"http={self.status}"


class HttpConn:
    """One keep-alive connection; reconnects by itself after ``Connection: close`` (moto does
    that on every response) or when the peer went away between two requests."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        self.connects += 1

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None

    async def request(self, head: bytes, body: bytes = b"", sink: Callable[[bytes], None] | None = None) -> Response:
        """Send ``head`` + ``body``; with ``sink`` the body is handed over chunk by chunk
        instead of being kept (large downloads)."""
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.writer.write(body)
        await self.writer.drain()
        return await self.read_response(sink)

    async def request_stream(self, head: bytes, chunks: AsyncIterator[bytes]) -> Response:
        """Upload a body produced chunk by chunk (the 100 MiB payload), then read the answer."""
        if self.writer is None:
            await self.connect()
        assert self.writer is not None
        self.writer.write(head)
        async for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
        return await self.read_response(None)

    async def read_response(self, sink: Callable[[bytes], None] | None) -> Response:
        assert self.reader is not None
        reader = self.reader
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
        resp = Response(status, headers)
        parts: list[bytes] = []
        take = sink or parts.append
        length = headers.get(b"content-length")
        if status in (204, 304) or 100 <= status < 200:
            pass
        elif length is not None:
            left = int(length)
            while left > 0:
                chunk = await reader.read(min(left, READ_CHUNK))
                if not chunk:
                    raise ConnectionError("connection closed inside a body")
                take(chunk)
                left -= len(chunk)
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                take(await reader.readexactly(size))
                await reader.readexactly(2)
        else:
            take(await reader.read())
            headers[b"connection"] = b"close"
        resp.done_at = time.perf_counter()
        resp.body = b"".join(parts)
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return resp


class UniqueClock:
    """``request-timestamp`` values that never repeat within a process, and never collide with
    those of the other client processes: a receive key covers only timestamp + route + secret,
    so two requests of one route in the same microsecond would be refused as a replay (103)."""

    def __init__(self, slot: int = 0, slots: int = 1) -> None:
        self.slot = slot
        self.slots = max(1, slots)
        self.last = 0
        self._sec = -1
        self._prefix = ""

    def timestamp(self) -> str:
        us = time.time_ns() // 1000
        us += (self.slot - us) % self.slots  # this process's residue class
        if us <= self.last:
            us = self.last + self.slots
        self.last = us
        sec, frac = divmod(us, 1_000_000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._prefix}.{frac:06d}Z"


def host_header(host: str, port: int) -> str:
    return f"{host}:{port}"


def multipart_parts(size: int) -> tuple[bytes, bytes]:
    """Multipart preamble and epilogue around a ``data`` file part of ``size`` bytes."""
    pre = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="data"; filename="bench.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return pre, f"\r\n--{BOUNDARY}--\r\n".encode()


class SendBuilder:
    """Signed ``POST {path}`` requests carrying one constant payload (unique message-ids)."""

    def __init__(
        self, host: str, port: int, route: str, secret: str, to: str, payload: bytes, path: str, clock: UniqueClock
    ) -> None:
        self.route, self.secret, self.to, self.path, self.clock = route, secret, to, path, clock
        self.md5 = hashlib.md5(payload).hexdigest()
        pre, post = multipart_parts(len(payload))
        self.body = pre + payload + post
        self.host = host_header(host, port)

    def head(self, message_id: str, content_length: int | None = None) -> bytes:
        ts = self.clock.timestamp()
        key = send_key(ts, self.route, self.to, message_id, self.md5, self.secret)
        length = len(self.body) if content_length is None else content_length
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n"
            f"request-timestamp: {ts}\r\nrequest-from: {self.route}\r\nrequest-key: {key}\r\n"
            f"message-to: {self.to}\r\nmessage-id: {message_id}\r\nmessage-md5: {self.md5}\r\n"
            "message-expires-after: 86400\r\n\r\n"
        ).encode()


class ReceiveBuilder:
    """Signed ``GET`` requests of one route (get-next, wait-next, get-message, floor GET)."""

    def __init__(self, host: str, port: int, route: str, secret: str, clock: UniqueClock) -> None:
        self.route, self.secret, self.clock = route, secret, clock
        self.host = host_header(host, port)

    def head(self, path: str) -> bytes:
        ts = self.clock.timestamp()
        key = receive_key(ts, self.route, self.secret)
        return (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"request-timestamp: {ts}\r\nrequest-from: {self.route}\r\nrequest-key: {key}\r\n\r\n"
        ).encode()


def form_post(host: str, port: int, body: bytes, service: str = "sqs") -> bytes:
    """Head of an AWS query-protocol POST. moto picks the service from the credential scope of
    the Authorization header and does not check the signature, so a fixed one is enough."""
    return (
        f"POST / HTTP/1.1\r\nHost: {host_header(host, port)}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
