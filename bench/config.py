"""Command line of ``python -m bench``: presets (default, --quick, --smoke) and overrides."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

REFS = ("floor", "moto", "rabbitmq")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Config:
    mode: str = "default"
    send_seconds: float = 20.0
    senders: int = 64
    client_procs: int = 2
    size: int = 1024
    receive_count: int = 10_000
    wake_count: int = 1_000
    # Pause between issuing the wait and sending, so the waiter is blocked in the server.
    wake_settle: float = 0.01
    large_mib: float = 100.0
    idle_conns: int = 10_000
    idle_probe: int = 50
    # moto needs ~50 ms of CPU per ReceiveMessage here: walking 10,000 would take minutes.
    moto_receive_cap: int = 500
    moto_wake_cap: int = 200
    refs: set[str] = field(default_factory=lambda: set(REFS))
    db: str | None = None
    workers: int | None = 1
    log_level: str | None = None
    pin: bool = True
    png: bool = True
    out: Path = RESULTS
    rabbit_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    notes: list[str] = field(default_factory=list)


PRESETS: dict[str, dict[str, object]] = {
    # About 40 s in all: for trying a change.
    "quick": {
        "send_seconds": 3.0,
        "receive_count": 1_000,
        "wake_count": 100,
        "large_mib": 20.0,
        "idle_conns": 1_000,
        "idle_probe": 20,
        "moto_receive_cap": 100,
        "moto_wake_cap": 20,
    },
    # The smoke test of `make test`: every workload runs, nothing is big.
    "smoke": {
        "send_seconds": 2.0,
        "senders": 4,
        "receive_count": 50,
        "wake_count": 20,
        "large_mib": 2.0,
        "idle_conns": 50,
        "idle_probe": 5,
        "moto_receive_cap": 50,
        "moto_wake_cap": 10,
        "refs": {"floor"},
    },
}


def parse(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(prog="python -m bench", description="relaybox benchmark (issue 4)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", const="quick", dest="mode", help="short run (~40 s)")
    mode.add_argument("--smoke", action="store_const", const="smoke", dest="mode", help="tiny run for the tests")
    p.add_argument("--send-seconds", type=float, help="duration of each send workload [20]")
    p.add_argument("--senders", type=int, help="concurrent senders / publishers [64]")
    p.add_argument("--client-procs", type=int, help="client processes sharing the senders [2]")
    p.add_argument("--size", type=int, help="message size in bytes [1024]")
    p.add_argument("--receive-count", type=int, help="messages walked by get-next-message [10000]")
    p.add_argument("--wake-count", type=int, help="end-to-end wake samples [1000]")
    p.add_argument("--wake-settle", type=float, help="seconds the waiter is given to block [0.01]")
    p.add_argument("--large-mib", type=float, help="large payload size in MiB [100]")
    p.add_argument("--idle-conns", type=int, help="idle wait-next-message connections [10000]")
    p.add_argument("--idle-probe", type=int, help="wake samples taken while they are held [50]")
    p.add_argument("--refs", help=f"comma list of references to measure: {','.join(REFS)} or 'none' [all]")
    p.add_argument("--db", help="run relaybox on this PostgreSQL URL instead of a fresh SQLite store")
    p.add_argument(
        "--workers", type=int, default=1, help="pass --workers N to relaybox serve (and the floor) [1: one server core]"
    )
    p.add_argument("--log-level", help="RELAYBOX_LOG_LEVEL for the server (and the floor) [relaybox default]")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and clients to separate cores")
    p.add_argument("--no-png", action="store_true", help="skip the plot")
    p.add_argument("--out", type=Path, help=f"output directory [{RESULTS}]")
    p.add_argument("--rabbit-url", help="AMQP URL of the RabbitMQ reference [amqp://guest:guest@127.0.0.1:5672/]")
    a = p.parse_args(argv)

    cfg = Config()
    cfg.mode = a.mode or "default"
    for key, value in PRESETS.get(cfg.mode, {}).items():
        setattr(cfg, key, value)
    overrides = {
        "send_seconds": a.send_seconds,
        "senders": a.senders,
        "client_procs": a.client_procs,
        "size": a.size,
        "receive_count": a.receive_count,
        "wake_count": a.wake_count,
        "wake_settle": a.wake_settle,
        "large_mib": a.large_mib,
        "idle_conns": a.idle_conns,
        "idle_probe": a.idle_probe,
        "db": a.db or os.environ.get("BENCH_DB") or None,
        "workers": a.workers,
        "log_level": a.log_level,
        "out": a.out,
        "rabbit_url": a.rabbit_url,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    if a.refs is not None:
        wanted = {r.strip() for r in a.refs.split(",") if r.strip() and r.strip() != "none"}
        unknown = wanted - set(REFS)
        if unknown:
            p.error(f"unknown reference(s): {', '.join(sorted(unknown))}")
        cfg.refs = wanted
    cfg.pin = not a.no_pin
    cfg.png = not a.no_png
    cfg.client_procs = max(1, min(cfg.client_procs, cfg.senders))
    return cfg


def config_dict(cfg: Config) -> dict[str, object]:
    """The configuration as recorded in the JSON (the database URL without its password)."""
    from bench.servers import redact_url

    out = {k: v for k, v in vars(cfg).items() if k not in ("notes", "rabbit_url")}
    out["refs"] = sorted(cfg.refs)
    out["out"] = str(cfg.out)
    out["db"] = redact_url(cfg.db) if cfg.db else None
    out["rabbit_url"] = redact_url(cfg.rabbit_url)
    return out
