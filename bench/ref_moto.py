"""Reference (b): moto's SQS server, a Python peer, driven by the same client code.

SendMessage with the same size and concurrency as relaybox's send; ReceiveMessage one message
at a time over a pre-filled queue (capped: moto scans the whole queue on each receive); and
the wake-up of a ReceiveMessage blocked in WaitTimeSeconds.
"""

from __future__ import annotations

import importlib.util
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench import servers, workloads
from bench.config import Config
from bench.httpc import form_post
from bench.workloads import Target


def _create_queue(port: int, name: str) -> str:
    body = f"Action=CreateQueue&Version=2012-11-05&QueueName={quote(name)}"
    head = form_post("127.0.0.1", port, body.encode()).decode()
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
    headers.pop("Content-Length", None)
    resp = httpx.post(f"http://127.0.0.1:{port}/", content=body, headers=headers, timeout=10)
    resp.raise_for_status()
    start = resp.text.find("<QueueUrl>")
    if start < 0:
        raise RuntimeError(f"CreateQueue answered without a QueueUrl: {resp.text[:200]}")
    return resp.text[start + len("<QueueUrl>") : resp.text.find("</QueueUrl>")]


def run(cfg: Config, workdir: Path, cpus: set[int] | None, server_cpus: set[int] | None, log: Any) -> dict[str, Any]:
    if importlib.util.find_spec("moto") is None:
        return {"status": "unavailable", "reason": "moto is not installed (pip install -e '.[bench]')"}
    svc = servers.moto(workdir, cpus=server_cpus)
    try:
        servers.start_moto(svc)
    except Exception as exc:
        return {"status": "unavailable", "reason": f"moto server did not start: {exc}"}
    out: dict[str, Any] = {"status": "ok", "version": _version()}
    try:
        t = Target("127.0.0.1", svc.port, svc.pid, cpus)
        tag = secrets.token_hex(3)
        send_q, recv_q, wake_q = (_create_queue(svc.port, f"bench-{n}-{tag}") for n in ("send", "recv", "wake"))
        out["send"] = workloads.send(cfg, t, kind="moto_send", queue_url=send_q)
        log(f"moto SendMessage: {out['send']['per_s']:.0f}/s p99 {out['send']['latency']['p99_ms']:.1f} ms")
        n = min(cfg.receive_count, cfg.moto_receive_cap)
        fill = workloads.send(cfg, t, kind="moto_send", queue_url=recv_q, total=n)
        if fill["ok"] < n:
            raise RuntimeError(f"pre-filling the receive queue: {fill.get('error') or fill['errors']}")
        out["receive"] = workloads.walk(cfg, t, kind="moto", count=n, queue_url=recv_q)
        log(f"moto ReceiveMessage: {out['receive']['per_s']:.0f}/s over {n} messages")
        job = workloads.wake_job(cfg, t, min(cfg.wake_count, cfg.moto_wake_cap), kind="moto", queue_url=wake_q)
        out["wake"] = workloads.wake(cfg, t, job)
        log(f"moto wake (WaitTimeSeconds): p99 {out['wake']['latency']['p99_ms']:.1f} ms")
        out["note"] = (
            "moto's Werkzeug server closes the connection after every response, so each request reconnects; "
            f"its receive walk is capped at {n:,} messages and its wake at {job['count']:,} samples "
            "(moto spends ~50 ms of CPU per ReceiveMessage here)"
        )
    except Exception as exc:
        out = {**out, "status": "failed", "reason": f"{type(exc).__name__}: {exc}", "log": svc.log_problems()}
    finally:
        svc.stop()
    return out


def _version() -> str:
    from importlib.metadata import version

    return version("moto")
