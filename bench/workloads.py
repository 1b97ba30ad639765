"""The parent's side of each workload: build the jobs, run them in client processes, turn the
raw results into figures. Shared by relaybox and the HTTP references (floor, moto)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import procfs
from bench.config import Config
from bench.loadgen import run_procs, split
from bench.stats import latency_summary, merge_counts

MiB = 1 << 20


@dataclass
class Target:
    """Where the client processes connect, and the routes they use."""

    host: str
    port: int
    pid: int | None
    cpus: set[int] | None


def _failed(results: list[dict[str, Any]]) -> str:
    return "; ".join(str(r["error"]) for r in results if r.get("error"))


def send(
    cfg: Config,
    t: Target,
    *,
    kind: str,
    path: str = "/1/send-message",
    senders: list[tuple[str, str]] | None = None,
    to: str = "",
    queue_url: str = "",
    total: int | None = None,
) -> dict[str, Any]:
    """``cfg.senders`` closed-loop connections over ``cfg.client_procs`` processes for
    ``cfg.send_seconds`` (or until ``total`` requests were sent)."""
    conns = [{"route": r, "secret": s, "to": to} for r, s in (senders or [("", "")] * cfg.senders)]
    jobs, first = [], 0
    for i, n in enumerate(split(len(conns), cfg.client_procs)):
        job = {"kind": kind, "host": t.host, "port": t.port, "path": path, "size": cfg.size, "queue_url": queue_url}
        job.update(conns=conns[first : first + n], proc_index=i, procs=cfg.client_procs, total=None)
        if total is not None:
            job["total"] = split(total, cfg.client_procs)[i]
        jobs.append(job)
        first += n
    synced = total is None
    pr = run_procs(
        "bench.jobs_http:closed_loop",
        jobs,
        cpus=t.cpus,
        duration=cfg.send_seconds if synced else 0.0,
        synced=synced,
        server_pid=t.pid,
        timeout=cfg.send_seconds + 120 if synced else 600,
    )
    res = pr.results
    error = _failed(res)
    ok = sum(r.get("ok", 0) for r in res)
    wall = cfg.send_seconds if synced else max((r.get("wall_s", 0.0) for r in res), default=0.0)
    lat = [x for r in res for x in r.get("latencies", [])]
    out: dict[str, Any] = {
        "status": "failed" if error and not ok else "ok",
        "concurrency": len(conns),
        "client_procs": cfg.client_procs,
        "seconds": round(wall, 3),
        "size": cfg.size,
        "ok": ok,
        "ok_total": sum(r.get("ok_total", 0) for r in res),
        "per_s": round(ok / wall, 1) if wall else 0.0,
        "errors": merge_counts([r.get("errors", {}) for r in res]),
        "reconnects": sum(r.get("reconnects", 0) for r in res),
        "per_second": _timeline(res, int(wall)) if synced else [],
        "latency": latency_summary(lat),
        "client_cpu": round(sum(r.get("cpu_s", 0.0) for r in res) / wall, 3) if wall else 0.0,
        "server_cpu": round(pr.server_cores, 3) if synced else None,
    }
    if error:
        out["error"] = error
    return out


def _timeline(results: list[dict[str, Any]], seconds: int) -> list[int]:
    """Completions in each second of the window, summed over the client processes."""
    total = [0] * max(seconds, 1)
    for r in results:
        for second, n in r.get("timeline", {}).items():
            total[min(int(second), len(total) - 1)] += n
    return total


def _single(t: Target, target: str, job: dict[str, Any], timeout: float = 600.0) -> tuple[dict[str, Any], float]:
    """One client process; the server's CPU is measured from the moment it is connected and
    ready (barrier) until its result arrives. Returns the result and the server's cores."""
    pr = run_procs(target, [job], cpus=t.cpus, synced=True, server_pid=t.pid, timeout=timeout)
    return pr.results[0], pr.server_cores


def walk(
    cfg: Config, t: Target, *, kind: str, count: int, route: str = "", secret: str = "", queue_url: str = ""
) -> dict[str, Any]:
    """``count`` sequential reads on one connection (get-next-message, floor GET, ReceiveMessage)."""
    job = {"kind": kind, "host": t.host, "port": t.port, "count": count, "size": cfg.size}
    job.update(route=route, secret=secret, queue_url=queue_url)
    r, server_cpu = _single(t, "bench.jobs_http:walk", job)
    wall = r.get("wall_s", 0.0)
    return _single_summary(
        r, count, server_cpu, seconds=round(wall, 3), per_s=round(r.get("ok", 0) / wall, 1) if wall else 0.0
    )


def _single_summary(r: dict[str, Any], count: int, server_cpu: float, **extra: Any) -> dict[str, Any]:
    """The figures of a one-client-process job, in the order the report prints them."""
    wall = r.get("wall_s", 0.0)
    out: dict[str, Any] = {
        "status": "ok" if r.get("ok") == count and not r.get("error") else "failed",
        "count": count,
        "ok": r.get("ok", 0),
        **extra,
        "latency": latency_summary(r.get("latencies", [])),
        "client_cpu": round(r.get("cpu_s", 0.0) / wall, 3) if wall else 0.0,
        "server_cpu": round(server_cpu, 3),
    }
    if r.get("error"):
        out["error"] = r["error"]
    return out


def wake_job(cfg: Config, t: Target, count: int, **routes: str) -> dict[str, Any]:
    job: dict[str, Any] = {"host": t.host, "port": t.port, "count": count, "size": cfg.size}
    job.update(settle=cfg.wake_settle, **routes)
    return job


def wake(cfg: Config, t: Target, job: dict[str, Any]) -> dict[str, Any]:
    """Sequential wake-ups: ``job`` from ``wake_job`` with kind relaybox or moto."""
    r, server_cpu = _single(t, "bench.jobs_http:wake", job)
    return _single_summary(r, job["count"], server_cpu, settle_ms=cfg.wake_settle * 1000)


def large(cfg: Config, t: Target, **routes: str) -> dict[str, Any]:
    """Upload then download ``cfg.large_mib`` MiB while sampling the server's RSS every 20 ms."""
    assert t.pid is not None
    size = int(cfg.large_mib * MiB)
    job = {"host": t.host, "port": t.port, "size": size, **routes}
    with procfs.RssSampler(t.pid) as sampler:
        pr = run_procs("bench.jobs_big:large", [job], cpus=t.cpus, synced=False, timeout=900)
    r = pr.results[0]
    out: dict[str, Any] = {"status": "failed" if r.get("error") else "ok", "bytes": size, "mib": cfg.large_mib}
    for way in ("upload", "download"):
        leg = r.get(way)
        if not leg:
            continue
        secs = leg["end"] - leg["start"]
        base = sampler.before(leg["start"])
        peak = sampler.peak(leg["start"], leg["end"])
        out[way] = {
            "http_status": leg["status"],
            "seconds": round(secs, 3),
            "mb_per_s": round(size / secs / 1e6, 1) if secs and leg["status"] == 200 else 0.0,
            "rss_before_mib": round(base / MiB, 1),
            "rss_peak_mib": round(peak / MiB, 1),
            "rss_growth_mib": round(max(0, peak - base) / MiB, 1),
            "rss_samples": sum(1 for ts, _ in sampler.samples if leg["start"] <= ts <= leg["end"]),
        }
    wall = r.get("wall_s", 0.0)
    out["md5_ok"] = r.get("md5_ok", False)
    out["client_cpu"] = round(r.get("cpu_s", 0.0) / wall, 3) if wall else 0.0
    if r.get("error"):
        out["error"] = r["error"]
    return out


def idle(cfg: Config, t: Target, routes: list[tuple[str, str]], probe: dict[str, Any], nofile: int) -> dict[str, Any]:
    """Hold ``cfg.idle_conns`` long-polls; server RSS with them held; one more waiter's wake."""
    job = {"host": t.host, "port": t.port, "count": cfg.idle_conns, "server_pid": t.pid}
    job.update(routes=routes, probe=probe, nofile=nofile)
    pr = run_procs("bench.jobs_big:idle", [job], cpus=t.cpus, synced=False, timeout=900)
    r = pr.results[0]
    if "rss_held" not in r:
        return {"status": "failed", "requested": cfg.idle_conns, "error": r.get("error", "no result")}
    probe_r = r["probe"]
    held = r["held"]
    growth = r["rss_held"] - r["rss_before"]
    out: dict[str, Any] = {
        "status": "ok" if held == cfg.idle_conns and not r.get("error") else "failed",
        "requested": cfg.idle_conns,
        "held": held,
        "connect_failed": r["connect_failed"],
        "answered_or_closed_early": r["answered_or_closed_early"],
        "connect_s": round(r["connect_s"], 2),
        "settle_s": round(r["settle_s"], 2),
        "rss_before_mib": round(r["rss_before"] / MiB, 1),
        "rss_held_mib": round(r["rss_held"] / MiB, 1),
        "rss_per_conn_kib": round(growth / max(held, 1) / 1024, 2),
        "probe": {
            "count": probe["count"],
            "ok": probe_r.get("ok", 0),
            "latency": latency_summary(probe_r.get("latencies", [])),
        },
        "client_cpu": round(r["cpu_s"] / r["wall_s"], 3) if r.get("wall_s") else 0.0,
    }
    if r.get("error") or held != cfg.idle_conns:
        out["error"] = r.get("error") or f"{held} of {cfg.idle_conns} connections held"
    return out
