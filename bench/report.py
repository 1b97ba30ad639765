"""Ratios, targets and the written results: ``<date>.json``, ``<date>.md`` and ``<date>.png``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The targets of issue 4, and the sizes at which they are stated.
FULL = {"idle_conns": 10_000, "large_mib": 100.0}


def _ok(d: Any) -> Any:
    return d if isinstance(d, dict) and d.get("status", "ok") == "ok" else None


def _fig(result: dict[str, Any], where: str, *path: str) -> float | None:
    """A number from the results, None when its workload or reference did not run."""
    root = result["workloads"] if where == "w" else result["references"]
    d: Any = root
    for key in path:
        d = _ok(d)
        if d is None:
            return None
        d = d.get(key)
    return float(d) if isinstance(d, int | float) and not isinstance(d, bool) else None


def comparisons(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure against its same-run reference, and the issue's targets (pass None = n/a)."""
    cfg = result["config"]
    full_idle = cfg["idle_conns"] >= FULL["idle_conns"]
    full_large = cfg["large_mib"] >= FULL["large_mib"]
    w, r = "w", "r"
    send = _fig(result, w, "send", "per_s")
    send_p99 = _fig(result, w, "send", "latency", "p99_ms")
    recv = _fig(result, w, "receive", "per_s")
    wake99 = _fig(result, w, "wake", "latency", "p99_ms")
    wake50 = _fig(result, w, "wake", "latency", "p50_ms")
    rows: list[dict[str, Any]] = []

    def ratio(
        name: str,
        unit: str,
        mine: float | None,
        ref: float | None,
        op: str | None = None,
        bound: float | None = None,
        comparable: bool = True,
    ) -> None:
        value = mine / ref if mine is not None and ref else None
        ok = None
        if value is not None and op is not None and bound is not None:
            ok = value >= bound if op == ">=" else value <= bound
        rows.append({"name": name, "unit": unit, "relaybox": mine, "reference": ref, "ratio": value,
                     "target": f"{op} {bound:g}" if op else None, "pass": ok, "comparable": comparable})  # fmt: skip

    def absolute(name: str, unit: str, mine: float | None, bound: float, comparable: bool = True) -> None:
        ok = None if mine is None else mine < bound
        rows.append({"name": name, "unit": unit, "relaybox": mine, "reference": None, "ratio": None,
                     "target": f"< {bound:g} {unit}", "pass": ok, "comparable": comparable})  # fmt: skip

    ratio("send vs floor POST", "msg/s", send, _fig(result, r, "floor", "post", "per_s"), ">=", 0.40)
    ratio("send vs moto SendMessage", "msg/s", send, _fig(result, r, "moto", "send", "per_s"), ">=", 10)
    ratio(
        "send vs RabbitMQ confirmed publish", "msg/s", send, _fig(result, r, "rabbitmq", "publish", "per_s"), ">=", 0.25
    )
    ratio("receive vs floor GET (sequential)", "msg/s", recv, _fig(result, r, "floor", "get", "per_s"), ">=", 0.60)
    absolute("wake p99", "ms", wake99, 20)
    ratio(
        "wake p99 vs RabbitMQ delivery p99",
        "ms",
        wake99,
        _fig(result, r, "rabbitmq", "delivery", "latency", "p99_ms"),
        "<=",
        2,
    )
    absolute("server RSS, idle waiters held", "MiB", _fig(result, w, "idle", "rss_held_mib"), 400, full_idle)
    absolute("RSS growth, large upload", "MiB", _fig(result, w, "large", "upload", "rss_growth_mib"), 64, full_large)
    absolute(
        "RSS growth, large download", "MiB", _fig(result, w, "large", "download", "rss_growth_mib"), 64, full_large
    )
    # Informative, no target.
    ratio("send p99 vs floor POST p99", "ms", send_p99, _fig(result, r, "floor", "post", "latency", "p99_ms"))
    ratio("receive vs moto ReceiveMessage", "msg/s", recv, _fig(result, r, "moto", "receive", "per_s"))
    ratio("wake p99 vs moto WaitTimeSeconds p99", "ms", wake99, _fig(result, r, "moto", "wake", "latency", "p99_ms"))
    ratio(
        "wake p50 vs RabbitMQ delivery p50", "ms", wake50, _fig(result, r, "rabbitmq", "delivery", "latency", "p50_ms")
    )
    ratio("idle probe wake p99 vs wake p99", "ms", _fig(result, w, "idle", "probe", "latency", "p99_ms"), wake99)
    return rows


def notes(result: dict[str, Any]) -> list[str]:
    """Things a reader must know to trust (or not) the figures."""
    out: list[str] = []
    pinned = result["placement"].get("client_cpus") or []
    cores = len(pinned) or result["machine"].get("cpus") or 1
    # Above this share of the client core(s), the figure may be the client's, not the server's.
    limit = 0.8 * cores
    refs = result["references"]
    floor, moto, rabbit = (_ok(refs.get(k)) or {} for k in ("floor", "moto", "rabbitmq"))
    series = [("send", _ok(result["workloads"].get("send"))), ("receive", _ok(result["workloads"].get("receive")))]
    series += [("floor POST", _ok(floor.get("post"))), ("floor GET", _ok(floor.get("get")))]
    series += [("moto SendMessage", _ok(moto.get("send"))), ("RabbitMQ publish", _ok(rabbit.get("publish")))]
    for name, d in series:
        if d and d.get("client_cpu", 0) >= limit:
            out.append(
                f"{name}: the client processes used {d['client_cpu']:.2f} of their {cores} core(s): "
                "the load generator may be what limits this figure"
            )
    for name, d in result["workloads"].items():
        if isinstance(d, dict) and d.get("status") != "ok":
            out.append(f"{name} FAILED: {d.get('error', '?')}")
    for name, ref in refs.items():
        if ref.get("status") != "ok":
            out.append(f"reference {name} {ref.get('status')}: {ref.get('reason') or ref.get('error', '?')}")
        elif ref.get("note"):
            out.append(f"{name}: {ref['note']}")
    for name, d in series:
        drift = _drift(d)
        if drift:
            out.append(f"{name}: the rate drifted during the window, {drift}")
    send = _ok(result["workloads"].get("send"))
    if send and send.get("errors"):
        out.append(f"send: non-200 answers {send['errors']}")
    server = result.get("relaybox_server", {})
    log = server.get("log") or {}
    if log.get("errors"):
        out.append(f"relaybox server log: {log['errors']} error lines (see relaybox_server.log in the JSON)")
    # uvicorn re-raises the SIGTERM it handled, so -15 is a clean stop.
    if server.get("exit_code") not in (0, None, -15):
        out.append(f"relaybox server exited with {server['exit_code']}")
    if server.get("died_during"):
        out.append(f"relaybox server died during (or before the end of) the {server['died_during']} workload")
    if result["store"] == "postgresql":
        out.append("PostgreSQL is the machine's own service: not pinned, its CPU is not in the server CPU column")
    if not result["placement"]["pinned"]:
        out.append("server and clients were not pinned to separate cores")
    if _ok(result["references"].get("rabbitmq")):
        out.append(
            "RabbitMQ is the machine's own service: not pinned, it may use both cores; its publishers are "
            "channels with confirms, one AMQP connection per client process"
        )
    return out


def _drift(d: dict[str, Any] | None) -> str:
    """'X/s in the first quarter, Y/s in the last' when those differ by more than 1.5x."""
    timeline = (d or {}).get("per_second") or []
    if len(timeline) < 4:
        return ""
    q = len(timeline) // 4
    first, last = sum(timeline[:q]) / q, sum(timeline[-q:]) / q
    if min(first, last) * 1.5 >= max(first, last):
        return ""
    return f"{first:,.0f}/s in its first quarter, {last:,.0f}/s in its last"


def _n(v: float | None, digits: int = 0) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def _lat(d: dict[str, Any] | None) -> str:
    lat = (d or {}).get("latency") or {}
    return f"{lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} ms" if lat.get("n") else "n/a"


def _cpu(d: dict[str, Any] | None, key: str) -> str:
    v = (d or {}).get(key)
    return "n/a" if v is None else f"{v:.2f}"


def _row(name: str, d: Any, value: Callable[[dict[str, Any]], str] | str) -> str:
    if not isinstance(d, dict):
        return f"| {name} | not run | | | |"
    if d.get("status") != "ok":
        return f"| {name} | {d.get('status', 'missing')}: {d.get('reason') or d.get('error') or '?'} | | | |"
    text = value if isinstance(value, str) else value(d)
    return f"| {name} | {text} | {_lat(d)} | {_cpu(d, 'client_cpu')} | {_cpu(d, 'server_cpu')} |"


def markdown(result: dict[str, Any]) -> str:
    c, m, w, refs = result["config"], result["machine"], result["workloads"], result["references"]
    rev = result.get("relaybox") or {}
    per_s = lambda d: f"{d['per_s']:,.0f} /s"  # noqa: E731
    lines = [
        f"# relaybox bench, {result['date']} ({result['mode']})",
        "",
        f"Machine: {m['cpus']} cores ({m['cpu_model']}), {m['memory_bytes'] / 2**30:.0f} GiB, Linux {m['kernel']}, "
        f"Python {m['python']}; load average at start {m['loadavg'][0]:.2f}, at end {m['loadavg_end'][0]:.2f}.  ",
        f"relaybox {rev.get('version')} at {rev.get('commit')}{' (src modified)' if rev.get('src_modified') else ''}, "
        f"{result['relaybox_server'].get('processes', '?')} server process(es). "
        f"Store: {result['store']}. Placement: {result['placement']['note']}. Run time: {result['elapsed_s']:.0f} s.  ",
        "CPU columns are cores in use (1.00 = one core busy); client CPU sums the client processes.",
        "",
        "| workload | result | latency p50 / p99 | client CPU | server CPU |",
        "|---|---|---|---|---|",
        _row(f"send: {c['senders']} senders, {c['size']} B, {c['send_seconds']:g} s", w.get("send"), per_s),
        _row(f"receive: get-next walk of {c['receive_count']:,}", w.get("receive"), per_s),
        _row(f"wake: {c['wake_count']:,} wait-next wake-ups", w.get("wake"), lambda d: f"{d['ok']:,} woken"),
    ]
    large = w.get("large") or {}
    for way in ("upload", "download"):
        leg = large.get(way) or {}
        text = f"{leg.get('mb_per_s', 0):,.0f} MB/s, server RSS +{leg.get('rss_growth_mib', 0)} MiB"
        d = {**large, "latency": None, "server_cpu": None} if large.get("status") == "ok" else large
        lines.append(_row(f"large: {c['large_mib']:g} MiB {way}", d, text))
    idle = w.get("idle") or {}
    d = (
        {**idle, "latency": (idle.get("probe") or {}).get("latency"), "server_cpu": None}
        if idle.get("status") == "ok"
        else idle
    )
    lines.append(
        _row(
            f"idle: {c['idle_conns']:,} held wait-next (probe wake)",
            d,
            lambda d: f"server RSS {d['rss_held_mib']} MiB ({d['rss_per_conn_kib']} KiB/conn)",
        )
    )
    lines += [
        "",
        "## References (same run)",
        "",
        "| reference | result | latency p50 / p99 | client CPU | server CPU |",
        "|---|---|---|---|---|",
    ]
    for key, label, sub, fmt in (
        ("floor", "floor POST (same stack, no work)", "post", per_s),
        ("floor", "floor GET, sequential", "get", per_s),
        ("moto", "moto SendMessage", "send", per_s),
        ("moto", "moto ReceiveMessage, sequential", "receive", per_s),
        ("moto", "moto wake (WaitTimeSeconds)", "wake", lambda d: f"{d['ok']:,} woken"),
        ("rabbitmq", "RabbitMQ confirmed durable publish", "publish", per_s),
        ("rabbitmq", "RabbitMQ delivery latency", "delivery", lambda d: f"{d['ok']:,} delivered"),
    ):
        ref = refs.get(key) or {}
        lines.append(_row(label, ref.get(sub) if ref.get("status") == "ok" else ref, fmt))
    lines += [
        "",
        "## Ratios and targets",
        "",
        "| comparison | relaybox | reference | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["comparisons"]:
        res = "" if row["target"] is None else ("n/a" if row["pass"] is None else ("PASS" if row["pass"] else "FAIL"))
        if row["target"] and row["pass"] is not None and not row["comparable"]:
            res += "*"
        digits = 2 if row["unit"] == "ms" else (1 if row["unit"] == "MiB" else 0)
        lines.append(
            f"| {row['name']} | {_n(row['relaybox'], digits)} {row['unit']} | {_n(row['reference'], digits)} | "
            f"{_n(row['ratio'], 2)} | {row['target'] or ''} | {res} |"
        )
    lines += ["", "\\* measured at a smaller size than the target is stated for.", "", "## Notes", ""]
    lines += [f"- {n}" for n in result["notes"]] or ["- none"]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path, *, png: bool, log: Callable[[str], None]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / result["date"]
    paths = {"json": stem.with_suffix(".json"), "md": stem.with_suffix(".md")}
    if png:
        try:
            from bench.plot import plot

            plot(result, stem.with_suffix(".png"))
            paths["png"] = stem.with_suffix(".png")
        except ImportError as exc:
            result["notes"].append(f"no plot: {exc} (pip install -e '.[bench]')")
            log(f"no plot: {exc}")
    paths["json"].write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    paths["md"].write_text(markdown(result))
    return paths
