"""Percentiles and the compact CDF kept in the JSON (the PNG is drawn from it)."""

from __future__ import annotations

from collections.abc import Sequence

# Quantiles kept per latency series: enough for a smooth CDF and its tail, small in JSON.
CDF_QUANTILES = [q / 100 for q in range(0, 100, 2)] + [0.99, 0.995, 0.999, 1.0]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of ``values`` (q in 0..1); 0.0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def latency_summary(seconds: Sequence[float]) -> dict[str, object]:
    """p50/p90/p99/max in milliseconds, the sample count, and the CDF points."""
    s = sorted(seconds)
    ms = [v * 1000 for v in s]
    return {
        "n": len(s),
        "p50_ms": round(percentile(ms, 0.50), 3),
        "p90_ms": round(percentile(ms, 0.90), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "max_ms": round(ms[-1], 3) if ms else 0.0,
        "cdf_ms": [[q, round(percentile(ms, q), 4)] for q in CDF_QUANTILES] if ms else [],
    }


def merge_counts(dicts: Sequence[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out
