"""Webhook events on the wire: the envelope, its timestamps and the event types.

The envelope is built once, when its cause commits, and stored byte for byte: every attempt
and every endpoint gets the same bytes, so the ``Signature`` of a given secret never changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

RECEIVED = "message.received"
STATUS = "message.status"
PING = "ping"
EVENT_TYPES = (RECEIVED, STATUS)

_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})")


def rfc3339(ts: float) -> str:
    """``2026-11-25T17:02:03.123Z``: UTC, milliseconds (truncated, never rounded up into the
    next second), ``Z``."""
    ms = int(round(ts * 1000, 3)) if ts >= 0 else int(ts * 1000)
    second, milli = divmod(ms, 1000)
    return f"{datetime.fromtimestamp(second, UTC):%Y-%m-%dT%H:%M:%S}.{milli:03d}Z"


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp (``Z`` or an offset, any fraction)."""
    found = _RFC3339.fullmatch(text)
    if found is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text[:40]!r}")
    y, mo, d, h, mi, s, frac, zone = found.groups()
    base = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC).timestamp()
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        base -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return base + (int(frac) / 10 ** len(frac) if frac else 0.0)


def envelope(event_id: str, event_type: str, created_at: float, event: Mapping[str, Any]) -> bytes:
    """Compact JSON, keys in the documented order, UTF-8, no trailing newline."""
    doc = {"event_id": event_id, "event_type": event_type, "created_at": rfc3339(created_at), "event": dict(event)}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
