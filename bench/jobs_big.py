"""Client-process workloads that stress memory rather than request rate: the large payload
(streamed up and down) and thousands of idle long-polls."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from bench import procfs
from bench.httpc import HttpConn, ReceiveBuilder, SendBuilder, UniqueClock, multipart_parts
from bench.jobs_http import NETWORK_ERRORS, wake_loop
from bench.loadgen import Window

BLOCK = 1 << 20


def _block() -> bytes:
    # Random, so that nothing on the way (page cache aside) can shortcut the bytes.
    return random.Random(7).randbytes(BLOCK)


def _md5_of(size: int, block: bytes) -> str:
    h = hashlib.md5()
    left = size
    while left > 0:
        h.update(block[: min(left, BLOCK)])
        left -= BLOCK
    return h.hexdigest()


async def large(job: dict[str, Any], window: Window) -> dict[str, Any]:
    """Upload ``size`` bytes in one send-message, then download them with get-message.
    Returns monotonic start/end of each transfer so the parent can match its RSS samples."""
    host, port, size = job["host"], job["port"], job["size"]
    block = _block()
    md5 = _md5_of(size, block)
    pre, post = multipart_parts(size)
    clock = UniqueClock()
    sb = SendBuilder(host, port, job["sender"], job["sender_secret"], job["to"], b"", "/1/send-message", clock)
    sb.md5 = md5  # the builder hashed an empty payload; the real one is streamed below

    async def body() -> AsyncIterator[bytes]:
        yield pre
        left = size
        while left > 0:
            yield block[: min(left, BLOCK)]
            left -= BLOCK
        yield post

    out: dict[str, Any] = {"size": size}
    conn = HttpConn(host, port)
    await conn.connect()
    c0 = time.process_time()
    up0 = time.monotonic()
    resp = await conn.request_stream(
        sb.head(f"large-{random.getrandbits(32):08x}", len(pre) + size + len(post)), body()
    )
    up1 = time.monotonic()
    out["upload"] = {"start": up0, "end": up1, "status": resp.status, "error": resp.error_code()}
    if resp.status != 200:
        await conn.close()
        out["error"] = f"upload answered {resp.error_code()}"
        return out
    link = resp.header("message-link")
    rb = ReceiveBuilder(host, port, job["to"], job["to_secret"], clock)
    h = hashlib.md5()
    got = 0

    def sink(chunk: bytes) -> None:
        nonlocal got
        got += len(chunk)
        h.update(chunk)

    down0 = time.monotonic()
    resp = await conn.request(rb.head(f"/1/get-message/{link}"), sink=sink)
    down1 = time.monotonic()
    await conn.close()
    out["download"] = {"start": down0, "end": down1, "status": resp.status, "error": resp.error_code(), "bytes": got}
    out["md5_ok"] = h.hexdigest() == md5 and got == size
    if not out["md5_ok"]:
        out["error"] = f"download: {got} bytes, md5 {'ok' if h.hexdigest() == md5 else 'wrong'}"
    out["cpu_s"] = time.process_time() - c0
    out["wall_s"] = down1 - up0
    return out


class _Idle(asyncio.Protocol):
    """One held wait-next-message: writes its request, then only notes what happens."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.answered = False
        self.lost = False
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check here.
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.answered = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


async def idle(job: dict[str, Any], window: Window) -> dict[str, Any]:
    """Hold ``count`` wait-next-message connections (raw sockets: a StreamReader per connection
    would cost the client more than the server), measure the server's RSS with them held and
    the wake latency of one more waiter while they wait."""
    host, port, n, pid = job["host"], job["port"], job["count"], job["server_pid"]
    loop = asyncio.get_running_loop()
    clock = UniqueClock()
    builders = [ReceiveBuilder(host, port, r, s, clock) for r, s in job["routes"]]
    await loop.run_in_executor(None, lambda: procfs.wait_idle(pid, timeout=30))
    rss_before = procfs.rss_bytes(pid)
    c0, t0 = time.process_time(), time.monotonic()
    held: list[_Idle] = []
    failed: dict[str, int] = {}

    async def open_one(i: int) -> None:
        proto = _Idle(builders[i % len(builders)].head("/1/wait-next-message/0?timeout=300"))
        try:
            await asyncio.wait_for(loop.create_connection(lambda: proto, host, port), 30)
            held.append(proto)
        except (TimeoutError, *NETWORK_ERRORS) as exc:
            failed[type(exc).__name__] = failed.get(type(exc).__name__, 0) + 1

    # In batches: a burst of 10,000 SYNs would overflow the listen backlog (2048 in uvicorn).
    batch = job.get("batch", 250)
    for first in range(0, n, batch):
        await asyncio.gather(*(open_one(i) for i in range(first, min(n, first + batch))))
    connect_s = time.monotonic() - t0
    # The server has taken every request into its wait once it stops burning CPU.
    settle_s = await loop.run_in_executor(None, lambda: procfs.wait_idle(pid, timeout=120))
    rss_samples = []
    for _ in range(5):
        rss_samples.append(procfs.rss_bytes(pid))
        await asyncio.sleep(0.1)
    rss_held = max(rss_samples)
    early_before_probe = sum(p.answered or p.lost for p in held)
    probe = await wake_loop(job["probe"], clock)
    early = sum(p.answered or p.lost for p in held)
    for p in held:
        if p.transport is not None:
            p.transport.abort()
    cpu = time.process_time() - c0
    return {
        "requested": n,
        "held": len(held) - early,
        "connect_failed": failed,
        "answered_or_closed_early": early,
        "answered_before_probe": early_before_probe,
        "connect_s": connect_s,
        "settle_s": settle_s,
        "rss_before": rss_before,
        "rss_held": rss_held,
        "probe": probe,
        "cpu_s": cpu,
        "wall_s": time.monotonic() - t0,
        "error": probe.get("error", ""),
    }
