"""Client-process workloads over HTTP: closed-loop senders, a sequential walk, end-to-end wake.

Each ``async def job(job, window)`` runs inside a client process (see ``loadgen``), gets a
plain dict of parameters and returns a plain dict of raw figures; the parent aggregates.
The same functions drive relaybox, the floor app and moto, so the references are measured
with the very same client work (signing included: the floor gets the same signed requests).
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from bench.httpc import HttpConn, ReceiveBuilder, Response, SendBuilder, UniqueClock, form_post
from bench.loadgen import Window

Maker = Callable[[int], tuple[bytes, bytes]]
NETWORK_ERRORS = (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


def payload(size: int) -> bytes:
    """Printable pseudo-random bytes: valid as an SQS MessageBody and as a file alike."""
    rnd = random.Random(size)
    return base64.b64encode(rnd.randbytes(size))[:size]


def _moto_send_body(queue_url: str, body: bytes) -> bytes:
    return f"Action=SendMessage&Version=2012-11-05&QueueUrl={quote(queue_url, safe='')}&MessageBody=".encode() + body


def _makers(job: dict[str, Any], clock: UniqueClock) -> list[Maker]:
    """One request factory per connection of this process."""
    host, port, data = job["host"], job["port"], payload(job["size"])
    tag = f"{job['proc_index']}-{random.getrandbits(32):08x}"
    makers: list[Maker] = []
    for i, c in enumerate(job["conns"]):
        if job["kind"] == "moto_send":
            body = _moto_send_body(job["queue_url"], data)
            makers.append(_constant(form_post(host, port, body), body))
        else:  # relaybox send-message, or the floor's POST with the very same request
            sb = SendBuilder(host, port, c["route"], c["secret"], c["to"], data, job["path"], clock)
            makers.append(_signed(sb, f"b{tag}-{i}"))
    return makers


def _constant(head: bytes, body: bytes) -> Maker:
    return lambda seq: (head, body)


def _signed(sb: SendBuilder, prefix: str) -> Maker:
    # message-ids must differ: the same id and md5 again is an idempotent re-send, not a message.
    return lambda seq: (sb.head(f"{prefix}-{seq}"), sb.body)


async def closed_loop(job: dict[str, Any], window: Window) -> dict[str, Any]:
    """Every connection sends, waits for the answer, sends again. Counts the 200s completed
    inside the window (or, with ``total``, sends that many and stops: the receive pre-fill)."""
    clock = UniqueClock(job["proc_index"], job["procs"])
    makers = _makers(job, clock)
    conns = [HttpConn(job["host"], job["port"]) for _ in makers]
    await asyncio.gather(*(c.connect() for c in conns))
    total: int | None = job.get("total")
    issued = 0
    ok_window = ok_total = 0
    latencies: list[float] = []
    errors: dict[str, int] = {}
    # Completions per second of the window: shows a rate that drifts (moto slows as its queue grows).
    timeline: dict[int, int] = {}

    await window.ready()
    end = float("inf") if total is not None else window.end

    async def one(conn: HttpConn, make: Maker) -> None:
        nonlocal issued, ok_window, ok_total
        seq = failures = 0
        while time.monotonic() < end and (total is None or issued < total):
            issued += 1
            head, body = make(seq)
            seq += 1
            t0 = time.perf_counter()
            try:
                resp = await conn.request(head, body)
            except NETWORK_ERRORS as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                await conn.close()
                failures += 1
                if failures > 50:
                    return  # the server is gone; do not spin
                await asyncio.sleep(0.01)
                continue
            failures = 0
            done = time.monotonic()
            if resp.status == 200:
                ok_total += 1
                if window.start <= done <= window.end or total is not None:
                    ok_window += 1
                    latencies.append(resp.done_at - t0)
                    second = int(done - window.start) if total is None else 0
                    timeline[second] = timeline.get(second, 0) + 1
            else:
                code = resp.error_code()
                errors[code] = errors.get(code, 0) + 1

    async def cpu_in_window() -> float:
        await asyncio.sleep(max(0.0, window.start - time.monotonic()))
        c0 = time.process_time()
        await asyncio.sleep(max(0.0, window.end - time.monotonic()))
        return time.process_time() - c0

    c0, t0 = time.process_time(), time.monotonic()
    cpu_task = asyncio.ensure_future(cpu_in_window()) if total is None else None
    await asyncio.gather(*(one(c, m) for c, m in zip(conns, makers, strict=True)))
    cpu = await cpu_task if cpu_task is not None else time.process_time() - c0
    wall = window.duration if total is None else time.monotonic() - t0
    await asyncio.gather(*(c.close() for c in conns))
    return {
        "ok": ok_window,
        "ok_total": ok_total,
        "latencies": latencies,
        "errors": errors,
        "cpu_s": cpu,
        "wall_s": wall,
        "reconnects": sum(c.connects for c in conns) - len(conns),
        "timeline": timeline,
    }


async def walk(job: dict[str, Any], window: Window) -> dict[str, Any]:
    """One connection, ``count`` requests in sequence. relaybox: get-next-message from link 0,
    each answer's ``message-link`` is the next cursor; floor: signed GET; moto: ReceiveMessage."""
    kind, count = job["kind"], job["count"]
    conn = HttpConn(job["host"], job["port"])
    await conn.connect()
    rb = ReceiveBuilder(job["host"], job["port"], job.get("route", ""), job.get("secret", ""), UniqueClock())
    moto_body = (
        f"Action=ReceiveMessage&Version=2012-11-05&MaxNumberOfMessages=1&QueueUrl={quote(job.get('queue_url', ''), safe='')}"
    ).encode()
    await window.ready()
    latencies: list[float] = []
    link, done, error = "0", 0, ""
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(count):
        if kind == "relaybox":
            head, body = rb.head(f"/1/get-next-message/{link}"), b""
        elif kind == "floor":
            head, body = rb.head("/get"), b""
        else:
            head, body = form_post(job["host"], job["port"], moto_body), moto_body
        s = time.perf_counter()
        try:
            resp = await conn.request(head, body)
        except NETWORK_ERRORS as exc:
            error = f"{type(exc).__name__}: {exc}"
            break
        if resp.status != 200:
            error = f"request {done + 1}: {resp.error_code()}"
            break
        if kind == "relaybox":
            link = resp.header("message-link")
            if len(resp.body) != job["size"]:
                error = f"request {done + 1}: {len(resp.body)} bytes, expected {job['size']}"
                break
        elif kind == "moto" and b"<Message>" not in resp.body:
            error = f"request {done + 1}: the queue was empty"
            break
        latencies.append(resp.done_at - s)
        done += 1
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await conn.close()
    return {"ok": done, "latencies": latencies, "cpu_s": cpu, "wall_s": wall, "error": error}


async def wake(job: dict[str, Any], window: Window) -> dict[str, Any]:
    """A waiter blocks in wait-next-message (or SQS ReceiveMessage with WaitTimeSeconds), then
    a sender sends: latency = send call made -> waiter holds the whole body."""
    return await wake_loop(job, window=window)


async def wake_loop(
    job: dict[str, Any], clock: UniqueClock | None = None, window: Window | None = None
) -> dict[str, Any]:
    host, port, kind, size = job["host"], job["port"], job["kind"], job["size"]
    clock = clock or UniqueClock()
    waiter, sender = HttpConn(host, port), HttpConn(host, port)
    await asyncio.gather(waiter.connect(), sender.connect())
    data = payload(size)
    if window is not None:
        await window.ready()
    if kind == "relaybox":
        rb = ReceiveBuilder(host, port, job["waiter"], job["waiter_secret"], clock)
        sb = SendBuilder(host, port, job["sender"], job["sender_secret"], job["waiter"], data, "/1/send-message", clock)
    else:
        recv_body = (
            "Action=ReceiveMessage&Version=2012-11-05&MaxNumberOfMessages=1&WaitTimeSeconds=20"
            f"&QueueUrl={quote(job['queue_url'], safe='')}"
        ).encode()
        send_body = _moto_send_body(job["queue_url"], data)
    latencies: list[float] = []
    link, error = job.get("after", "0"), ""
    tag = f"{random.getrandbits(32):08x}"
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(job["count"]):
        if kind == "relaybox":
            w_req = (rb.head(f"/1/wait-next-message/{link}?timeout=30"), b"")
            s_req = (sb.head(f"w{tag}-{i}"), sb.body)
        else:
            w_req = (form_post(host, port, recv_body), recv_body)
            s_req = (form_post(host, port, send_body), send_body)
        waiting = asyncio.ensure_future(waiter.request(*w_req))
        # Let the wait reach the server and block there, so we measure a wake-up, not a read.
        await asyncio.sleep(job["settle"])
        if waiting.done():
            error = f"wake {i}: the waiter returned before the send ({_describe(waiting)})"
            break
        start = time.perf_counter()
        try:
            sent, got = await asyncio.gather(sender.request(*s_req), waiting)
        except NETWORK_ERRORS as exc:
            error = f"wake {i}: {type(exc).__name__}: {exc}"
            break
        if sent.status != 200 or got.status != 200:
            error = f"wake {i}: send {sent.error_code()}, wait {got.error_code()}"
            break
        if kind == "relaybox":
            link = got.header("message-link")
            if len(got.body) != size:
                error = f"wake {i}: {len(got.body)} bytes, expected {size}"
                break
        latencies.append(got.done_at - start)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await asyncio.gather(waiter.close(), sender.close())
    return {"ok": len(latencies), "latencies": latencies, "cpu_s": cpu, "wall_s": wall, "error": error}


def _describe(task: asyncio.Future[Response]) -> str:
    if task.exception() is not None:
        return repr(task.exception())
    resp = task.result()
    return f"status {resp.status} {resp.error_code()}"
