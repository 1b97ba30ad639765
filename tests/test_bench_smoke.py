"""The benchmark harness (``bench/``, ``make bench``) in its tiny mode: every workload runs end to
end against a real server and the floor app, and the results carry numbers, not placeholders.

It runs ``python -m bench`` in a subprocess, as ``make bench`` does: the harness pins cores,
raises its open-file limit and spawns client processes, none of which belongs in pytest's own
process. moto and RabbitMQ are not used (``--smoke`` measures the floor reference only).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _number(d: dict[str, Any], *path: str) -> float:
    value: Any = d
    for key in path:
        assert isinstance(value, dict) and key in value, f"missing {'.'.join(path)}"
        value = value[key]
    assert isinstance(value, int | float) and not isinstance(value, bool), f"{'.'.join(path)} = {value!r}"
    return float(value)


def test_bench_smoke_run_writes_every_workload(tmp_path: Path) -> None:
    has_plot = importlib.util.find_spec("matplotlib") is not None
    cmd = [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)]
    if not has_plot:
        cmd.append("--no-png")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]

    [json_path] = tmp_path.glob("*.json")
    result = json.loads(json_path.read_text())
    w = result["workloads"]
    for name in ("send", "receive", "wake", "large", "idle"):
        assert w[name]["status"] == "ok", (name, w[name], proc.stderr[-3000:])

    assert _number(w, "send", "per_s") > 0
    assert _number(w, "send", "latency", "p99_ms") >= _number(w, "send", "latency", "p50_ms") > 0
    assert _number(w, "send", "client_cpu") >= 0
    assert w["send"]["concurrency"] == 4
    assert _number(w, "receive", "per_s") > 0
    assert w["receive"]["ok"] == 50
    assert w["wake"]["ok"] == 20
    assert _number(w, "wake", "latency", "p99_ms") > 0
    for way in ("upload", "download"):
        assert _number(w, "large", way, "mb_per_s") > 0
        assert _number(w, "large", way, "rss_growth_mib") >= 0
    assert w["large"]["md5_ok"] is True
    assert w["idle"]["held"] == 50
    assert _number(w, "idle", "rss_held_mib") > 0
    assert _number(w, "idle", "probe", "latency", "p99_ms") > 0

    floor = result["references"]["floor"]
    assert floor["status"] == "ok"
    assert _number(floor, "post", "per_s") > 0
    assert _number(floor, "get", "per_s") > 0
    assert result["references"]["moto"]["status"] == "unavailable"
    assert result["references"]["rabbitmq"]["status"] == "unavailable"

    ratios = {row["name"]: row for row in result["comparisons"]}
    assert ratios["send vs floor POST"]["ratio"] > 0
    assert ratios["receive vs floor GET (sequential)"]["ratio"] > 0
    assert ratios["wake p99"]["pass"] in (True, False)

    md = json_path.with_suffix(".md").read_text()
    assert "## Ratios and targets" in md and "send vs floor POST" in md
    assert json_path.with_suffix(".png").exists() == has_plot

    # No route secret (48 hex digits) may reach the output.
    for text in (proc.stdout, proc.stderr, json_path.read_text(), md):
        assert not re.search(r"\b[0-9a-f]{48}\b", text)
