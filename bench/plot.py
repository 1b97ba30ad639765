"""The PNG: latency CDFs (left) and throughput bars (right), drawn from the JSON alone, so a
past run can be re-plotted: ``python -m bench.plot bench/results/2026-01-01.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on the bench machine
import matplotlib.pyplot as plt


def _ok(d: Any) -> dict[str, Any] | None:
    return d if isinstance(d, dict) and d.get("status", "ok") == "ok" else None


def _series(result: dict[str, Any]) -> tuple[list[tuple[str, list[list[float]]]], list[tuple[str, float, str]]]:
    w, refs = result["workloads"], result["references"]
    floor, moto, rabbit = (_ok(refs.get(k)) or {} for k in ("floor", "moto", "rabbitmq"))
    cdfs: list[tuple[str, list[list[float]]]] = []
    bars: list[tuple[str, float, str]] = []
    for label, d in (
        ("relaybox send", _ok(w.get("send"))),
        ("floor POST", _ok(floor.get("post"))),
        ("moto SendMessage", _ok(moto.get("send"))),
        ("RabbitMQ publish+confirm", _ok(rabbit.get("publish"))),
        ("relaybox wake", _ok(w.get("wake"))),
        ("relaybox wake, idle held", _ok({"latency": (_ok(w.get("idle")) or {}).get("probe", {}).get("latency")})),
        ("moto wake", _ok(moto.get("wake"))),
        ("RabbitMQ delivery", _ok(rabbit.get("delivery"))),
        ("relaybox get-next", _ok(w.get("receive"))),
    ):
        lat = (d or {}).get("latency") or {}
        if lat.get("cdf_ms"):
            cdfs.append((label, lat["cdf_ms"]))
    for label, d, group in (
        ("relaybox send", _ok(w.get("send")), "send"),
        ("floor POST", _ok(floor.get("post")), "send"),
        ("moto Send", _ok(moto.get("send")), "send"),
        ("RabbitMQ publish", _ok(rabbit.get("publish")), "send"),
        ("relaybox receive", _ok(w.get("receive")), "receive"),
        ("floor GET", _ok(floor.get("get")), "receive"),
        ("moto Receive", _ok(moto.get("receive")), "receive"),
    ):
        if d and d.get("per_s"):
            bars.append((label, float(d["per_s"]), group))
    return cdfs, bars


def plot(result: dict[str, Any], path: Path) -> None:
    cdfs, bars = _series(result)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6))
    for label, points in cdfs:
        xs = [max(p[1], 1e-3) for p in points]
        ys = [p[0] for p in points]
        # Solid: relaybox; dashed: the references.
        left.step(xs, ys, where="post", label=label, linestyle="-" if label.startswith("relaybox") else "--")
    left.set_xscale("log")
    left.set_xlabel("latency (ms, log scale)")
    left.set_ylabel("fraction of requests")
    left.set_title("Latency CDF")
    left.grid(True, which="both", alpha=0.3)
    if cdfs:
        left.legend(fontsize=8, loc="lower right")
    colors = {"send": "tab:blue", "receive": "tab:green"}
    names = [b[0] for b in bars]
    values = [b[1] for b in bars]
    right.barh(names, values, color=[colors[b[2]] for b in bars])
    for i, v in enumerate(values):
        right.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
    right.invert_yaxis()
    right.set_xlabel("messages (requests) per second")
    right.set_title("Throughput (send: concurrent; receive: one sequential walker)")
    right.margins(x=0.15)
    fig.suptitle(
        f"relaybox bench {result['date']} ({result['mode']}, {result['store']}, {result['placement']['note']})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    src = Path(sys.argv[1])
    plot(json.loads(src.read_text()), src.with_suffix(".png"))
