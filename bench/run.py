"""``python -m bench``: start, measure, stop, write the results. Nothing here crashes the run:
a workload or reference that fails is recorded as failed (or unavailable) with the reason."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import procfs, ref_moto, ref_rabbit, report, servers, workloads
from bench.config import Config, config_dict, parse
from bench.loadgen import client_cpus
from bench.servers import new_route
from bench.workloads import MiB, Target

Log = Callable[[str], None]


def _logger() -> Log:
    t0 = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    return log


def _guard(name: str, log: Log, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one measurement; any exception becomes a failed entry instead of ending the run."""
    try:
        return fn()
    except Exception as exc:
        log(f"{name} FAILED: {type(exc).__name__}: {exc}")
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def _nofile_for(cfg: Config) -> int:
    return cfg.idle_conns + 2048


def _floor_and_relaybox(cfg: Config, workdir: Path, placement: dict[str, Any], log: Log) -> dict[str, Any]:
    clients, server_cpus = placement["client_cpus"], placement["server_cpus"]
    nofile = _nofile_for(cfg)
    large_bytes = int(cfg.large_mib * MiB)
    svc = servers.relaybox(
        workdir,
        db=cfg.db,
        cpus=server_cpus,
        nofile=nofile,
        max_bytes=max(large_bytes + MiB, 10 * MiB),
        workers=cfg.workers,
        log_level=cfg.log_level,
    )
    senders = [new_route("s") for _ in range(cfg.senders)]
    sink, wake_w, wake_s, big_s, big_r, probe_w, probe_s = (new_route(p) for p in "kwxlmpq")
    idle_routes = [new_route("i") for _ in range(10)]
    servers.add_routes(
        workdir / "relaybox-data",
        cfg.db,
        [*senders, sink, wake_w, wake_s, big_s, big_r, probe_w, probe_s, *idle_routes],
    )
    servers.start_relaybox(svc)
    rb = Target("127.0.0.1", svc.port, svc.pid, clients)
    out: dict[str, Any] = {"workloads": {}, "floor": None}
    w = out["workloads"]
    out["server"] = {
        "processes": servers.serve_processes(svc),
        "rss_start_mib": round(procfs.rss_bytes(svc.pid) / MiB, 1),
    }
    log(f"relaybox serving on port {svc.port} ({out['server']['processes']} process(es)); {len(senders)} sender routes")

    floor_svc = None
    if "floor" in cfg.refs:
        floor_svc = servers.floor(
            workdir, cpus=server_cpus, workers=cfg.workers or 1, log_level=(cfg.log_level or "info").lower()
        )
        try:
            servers.start_floor(floor_svc)
            out["floor"] = {"status": "ok", "processes": servers.serve_processes(floor_svc)}
        except Exception as exc:
            out["floor"] = {"status": "unavailable", "reason": str(exc)}
            floor_svc = None
    else:
        out["floor"] = {"status": "unavailable", "reason": "not requested (--refs)"}
    fl = Target("127.0.0.1", floor_svc.port, floor_svc.pid, clients) if floor_svc else None
    try:
        # Floor and relaybox back to back, so that both see the same machine.
        if fl is not None:
            out["floor"]["post"] = _guard(
                "floor POST",
                log,
                lambda: workloads.send(cfg, fl, kind="floor", path="/post", senders=senders, to=sink[0]),
            )
            log(
                f"floor POST: {out['floor']['post'].get('per_s', 0):.0f} req/s, client CPU {out['floor']['post'].get('client_cpu', 0):.2f}"
            )
        w["send"] = _guard("send", log, lambda: workloads.send(cfg, rb, kind="relaybox", senders=senders, to=sink[0]))
        log(_line("send", w["send"]))
        _check_alive(svc, "send", out["server"], log)
        # The receive walk reads the sink's first messages: top it up if the send run left fewer.
        have = w["send"].get("ok_total", 0)
        if have < cfg.receive_count:
            log(f"pre-filling the sink: {cfg.receive_count - have} more messages")
            fill = workloads.send(cfg, rb, kind="relaybox", senders=senders, to=sink[0], total=cfg.receive_count - have)
            w["send"]["prefill"] = {"ok": fill["ok"], "per_s": fill["per_s"], "errors": fill["errors"]}
        if fl is not None:
            out["floor"]["get"] = _guard(
                "floor GET",
                log,
                lambda: workloads.walk(cfg, fl, kind="floor", count=cfg.receive_count, route=sink[0], secret=sink[1]),
            )
            log(f"floor GET (sequential): {out['floor']['get'].get('per_s', 0):.0f} req/s")
        w["receive"] = _guard(
            "receive",
            log,
            lambda: workloads.walk(cfg, rb, kind="relaybox", count=cfg.receive_count, route=sink[0], secret=sink[1]),
        )
        log(_line("receive", w["receive"]))
        _check_alive(svc, "receive", out["server"], log)
        if floor_svc is not None:
            floor_svc.stop()
            out["floor"]["log"] = floor_svc.log_problems()
            floor_svc = None
        job = workloads.wake_job(
            cfg,
            rb,
            cfg.wake_count,
            kind="relaybox",
            waiter=wake_w[0],
            waiter_secret=wake_w[1],
            sender=wake_s[0],
            sender_secret=wake_s[1],
        )
        w["wake"] = _guard("wake", log, lambda: workloads.wake(cfg, rb, job))
        log(_line("wake", w["wake"]))
        _check_alive(svc, "wake", out["server"], log)
        w["large"] = _guard(
            "large",
            log,
            lambda: workloads.large(cfg, rb, sender=big_s[0], sender_secret=big_s[1], to=big_r[0], to_secret=big_r[1]),
        )
        log(_line("large", w["large"]))
        _check_alive(svc, "large", out["server"], log)
        probe = workloads.wake_job(
            cfg,
            rb,
            cfg.idle_probe,
            kind="relaybox",
            waiter=probe_w[0],
            waiter_secret=probe_w[1],
            sender=probe_s[0],
            sender_secret=probe_s[1],
        )
        w["idle"] = _guard("idle", log, lambda: workloads.idle(cfg, rb, idle_routes, probe, nofile))
        log(_line("idle", w["idle"]))
        _check_alive(svc, "idle", out["server"], log)
        out["server"]["processes_end"] = servers.serve_processes(svc)
        out["server"]["alive_at_end"] = svc.alive()
    finally:
        if floor_svc is not None:
            floor_svc.stop()
        code = svc.stop()
        out["server"]["exit_code"] = code
        out["server"]["log"] = svc.log_problems()
    return out


def _revision() -> dict[str, Any]:
    """Which relaybox was measured: the commit, and whether the tree had uncommitted changes."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=servers.ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    from relaybox import __version__

    status = git("status", "--porcelain", "--", "src")
    return {"version": __version__, "commit": git("rev-parse", "--short", "HEAD") or None, "src_modified": bool(status)}


def _check_alive(svc: servers.Service, workload: str, server: dict[str, Any], log: Log) -> None:
    """Record the first workload after which the server was gone (a crash under load)."""
    if not svc.alive() and "died_during" not in server:
        server["died_during"] = workload
        log(f"relaybox server is gone after {workload} (exit {svc.proc.returncode if svc.proc else '?'})")


def _line(name: str, r: dict[str, Any]) -> str:
    if r.get("status") != "ok":
        return f"{name}: {r.get('status')} - {r.get('error', '')}"
    lat = r.get("latency") or r.get("probe", {}).get("latency") or {}
    if name == "large":
        up, down = r.get("upload", {}), r.get("download", {})
        return (
            f"large: up {up.get('mb_per_s', 0):.0f} MB/s (+{up.get('rss_growth_mib', 0)} MiB RSS), "
            f"down {down.get('mb_per_s', 0):.0f} MB/s (+{down.get('rss_growth_mib', 0)} MiB RSS)"
        )
    if name == "idle":
        return (
            f"idle: {r['held']} held, server RSS {r['rss_held_mib']} MiB, probe wake p99 {lat.get('p99_ms', 0):.1f} ms"
        )
    rate = f"{r['per_s']:.0f}/s " if "per_s" in r else ""
    return f"{name}: {rate}p50 {lat.get('p50_ms', 0):.2f} ms p99 {lat.get('p99_ms', 0):.2f} ms, client CPU {r.get('client_cpu', 0):.2f}"


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    log = _logger()
    started = time.time()
    date = dt.date.today().isoformat()
    clients, server_cpus, pin_note = client_cpus(cfg.pin)
    procfs.pin(clients)  # the harness itself stays off the server core too
    placement = {"client_cpus": clients, "server_cpus": server_cpus}
    if cfg.mode == "default":
        cfg.notes.append(
            "durations and sizes are the issue's (send 20 s, 10,000 walked, 1,000 wakes, 100 MiB, 10,000 idle)"
        )
    else:
        cfg.notes.append(
            f"--{cfg.mode}: smaller durations and sizes than the issue's; targets marked * are not comparable"
        )
    log(f"bench ({cfg.mode}): {pin_note}")
    result: dict[str, Any] = {
        "schema": 1,
        "date": date,
        "started_at": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "mode": cfg.mode,
        "config": config_dict(cfg),
        "machine": {**procfs.machine(), "python": platform.python_version()},
        "placement": {
            "pinned": bool(clients),
            "client_cpus": sorted(clients or []),
            "server_cpus": sorted(server_cpus or []),
            "note": pin_note,
        },
        "store": "postgresql" if cfg.db else "sqlite",
    }
    result["relaybox"] = _revision()
    if cfg.workers and cfg.workers > 1 and clients:
        cfg.notes.append(f"--workers {cfg.workers} with pinning: the workers share the server core(s); add --no-pin")
    with tempfile.TemporaryDirectory(prefix="relaybox-bench-") as tmp:
        workdir = Path(tmp)
        if cfg.workers and not servers.supports_workers():
            cfg.notes.append("--workers requested but relaybox serve has no --workers option: ignored")
            cfg.workers = None
        rb = _guard("relaybox", log, lambda: _floor_and_relaybox(cfg, workdir, placement, log))
        result["workloads"] = rb.get("workloads", {})
        result["relaybox_server"] = rb.get("server", {"error": rb.get("error")})
        refs: dict[str, Any] = {"floor": rb.get("floor") or {"status": "failed", "reason": rb.get("error", "")}}
        if "moto" in cfg.refs:
            refs["moto"] = _guard("moto", log, lambda: ref_moto.run(cfg, workdir, clients, server_cpus, log))
        else:
            refs["moto"] = {"status": "unavailable", "reason": "not requested (--refs)"}
        if "rabbitmq" in cfg.refs:
            refs["rabbitmq"] = _guard("rabbitmq", log, lambda: ref_rabbit.run(cfg, clients, log))
        else:
            refs["rabbitmq"] = {"status": "unavailable", "reason": "not requested (--refs)"}
        for name, ref in refs.items():
            if ref.get("status") != "ok":
                log(f"reference {name}: {ref.get('status')} ({ref.get('reason') or ref.get('error', '')})")
        result["references"] = refs
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    result["elapsed_s"] = round(time.time() - started, 1)
    result["notes"] = cfg.notes + report.notes(result)
    result["comparisons"] = report.comparisons(result)
    paths = report.write(result, cfg.out, png=cfg.png, log=log)
    print(paths["md"].read_text())
    log(f"done in {result['elapsed_s']:.0f} s: " + ", ".join(str(p) for p in paths.values()))
    return 0
