"""Reference (c), the native-broker bar: the machine's RabbitMQ with a durable queue, persistent
messages and publisher confirms (aio-pika), and a consumer's delivery latency.

RabbitMQ is a system service the bench does not start, so it is not pinned to the server core
(the report says so); its CPU is read from its ``beam.smp`` process when one is visible.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import time
from typing import Any

from bench.config import Config
from bench.jobs_http import payload
from bench.loadgen import Window, run_procs, split
from bench.stats import latency_summary, merge_counts


async def publish(job: dict[str, Any], window: Window) -> dict[str, Any]:
    """Closed-loop confirmed publishes: each publisher (a channel with confirms) waits for the
    broker's ack of one persistent message before publishing the next."""
    import aio_pika

    conn = await aio_pika.connect(job["url"], timeout=10)
    channels = [await conn.channel(publisher_confirms=True) for _ in range(job["publishers"])]
    body = payload(job["size"])
    latencies: list[float] = []
    errors: dict[str, int] = {}
    ok = 0
    await window.ready()

    async def one(ch: Any) -> None:
        nonlocal ok
        while time.monotonic() < window.end:
            t0 = time.perf_counter()
            try:
                await ch.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=job["queue"]
                )
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                await asyncio.sleep(0.01)
                continue
            if time.monotonic() <= window.end:
                ok += 1
                latencies.append(time.perf_counter() - t0)

    c0 = time.process_time()
    await asyncio.gather(*(one(ch) for ch in channels))
    cpu = time.process_time() - c0
    await conn.close()
    return {"ok": ok, "latencies": latencies, "errors": errors, "cpu_s": cpu}


async def delivery(job: dict[str, Any], window: Window) -> dict[str, Any]:
    """Publish one persistent message at a time; latency = publish call -> consumer callback
    holding the body (the consumer on a connection of its own, as a real one would be)."""
    import aio_pika

    pub = await aio_pika.connect(job["url"], timeout=10)
    sub = await aio_pika.connect(job["url"], timeout=10)
    pch = await pub.channel(publisher_confirms=True)
    sch = await sub.channel()
    queue = await sch.declare_queue(job["queue"], durable=True)
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[float]] = []

    async def on_message(message: Any) -> None:
        if pending and not pending[0].done():
            pending[0].set_result(time.perf_counter())

    await queue.consume(on_message, no_ack=True)
    body = payload(job["size"])
    latencies: list[float] = []
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(job["count"]):
        pending[:] = [loop.create_future()]
        start = time.perf_counter()
        msg = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        _, got = await asyncio.gather(pch.default_exchange.publish(msg, routing_key=job["queue"]), pending[0])
        latencies.append(got - start)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await pub.close()
    await sub.close()
    return {"ok": len(latencies), "latencies": latencies, "cpu_s": cpu, "wall_s": wall}


async def _admin(url: str, declare: list[str], delete: list[str]) -> str:
    import aio_pika

    conn = await aio_pika.connect(url, timeout=5)
    try:
        ch = await conn.channel()
        for name in declare:
            await ch.declare_queue(name, durable=True)
        for name in delete:
            await ch.queue_delete(name)
        version = conn.transport.connection.server_properties.get("version", "?")  # type: ignore[union-attr]
        return version.decode("utf-8", "replace") if isinstance(version, bytes) else str(version)
    finally:
        await conn.close()


def _beam_pid() -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "beam.smp":
                        return int(entry)
            except OSError:
                continue
    return None


def run(cfg: Config, cpus: set[int] | None, log: Any) -> dict[str, Any]:
    from bench import procfs

    if importlib.util.find_spec("aio_pika") is None:
        return {"status": "unavailable", "reason": "aio-pika is not installed (pip install -e '.[bench]')"}
    tag = secrets.token_hex(3)
    pub_q, del_q = f"bench-publish-{tag}", f"bench-delivery-{tag}"
    try:
        version = asyncio.run(_admin(cfg.rabbit_url, [pub_q, del_q], []))
    except Exception as exc:
        return {"status": "unavailable", "reason": f"cannot reach RabbitMQ: {type(exc).__name__}: {exc}"}
    out: dict[str, Any] = {"status": "ok", "version": version, "pinned": False}
    beam = _beam_pid()
    try:
        jobs = [
            {"url": cfg.rabbit_url, "queue": pub_q, "size": cfg.size, "publishers": n}
            for n in split(cfg.senders, cfg.client_procs)
        ]
        pr = run_procs(
            "bench.ref_rabbit:publish",
            jobs,
            cpus=cpus,
            duration=cfg.send_seconds,
            server_pid=beam,
            timeout=cfg.send_seconds + 120,
        )
        res = pr.results
        failed = "; ".join(str(r["error"]) for r in res if r.get("error"))
        ok = sum(r.get("ok", 0) for r in res)
        out["publish"] = {
            "status": "failed" if failed else "ok",
            "concurrency": cfg.senders,
            "client_procs": cfg.client_procs,
            "seconds": cfg.send_seconds,
            "ok": ok,
            "per_s": round(ok / cfg.send_seconds, 1),
            "errors": merge_counts([r.get("errors", {}) for r in res]),
            "latency": latency_summary([x for r in res for x in r.get("latencies", [])]),
            "client_cpu": round(sum(r.get("cpu_s", 0.0) for r in res) / cfg.send_seconds, 3),
            "server_cpu": round(pr.server_cores, 3) if beam else None,
        }
        if failed:
            out["publish"]["error"] = failed
        log(
            f"RabbitMQ confirmed publish: {out['publish']['per_s']:.0f}/s p99 {out['publish']['latency']['p99_ms']:.1f} ms"
        )
        job = {"url": cfg.rabbit_url, "queue": del_q, "size": cfg.size, "count": cfg.wake_count}
        if beam:
            with procfs.cpu_window(beam) as cpu:
                r = run_procs("bench.ref_rabbit:delivery", [job], cpus=cpus, synced=False).results[0]
        else:
            r, cpu = run_procs("bench.ref_rabbit:delivery", [job], cpus=cpus, synced=False).results[0], {"cores": 0.0}
        wall = r.get("wall_s", 0.0)
        out["delivery"] = {
            "status": "failed" if r.get("error") else "ok",
            "count": cfg.wake_count,
            "ok": r.get("ok", 0),
            "latency": latency_summary(r.get("latencies", [])),
            "client_cpu": round(r.get("cpu_s", 0.0) / wall, 3) if wall else 0.0,
            "server_cpu": round(cpu["cores"], 3) if beam else None,
        }
        if r.get("error"):
            out["delivery"]["error"] = r["error"]
        log(
            f"RabbitMQ delivery: p50 {out['delivery']['latency']['p50_ms']:.2f} ms p99 {out['delivery']['latency']['p99_ms']:.2f} ms"
        )
    except Exception as exc:
        out = {**out, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    finally:
        try:
            asyncio.run(_admin(cfg.rabbit_url, [], [pub_q, del_q]))
        except Exception as exc:
            out.setdefault("cleanup_error", f"{type(exc).__name__}: {exc}")
    return out
