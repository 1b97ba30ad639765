"""Webhook events on the wire: the envelope, its timestamps and the event types.

The envelope is built once, when its cause commits, and stored byte for byte: every attempt
and every endpoint gets the same bytes, so the ``Signature`` of a given secret never changes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

RECEIVED = "message.received"
STATUS = "message.status"
PING = "ping"
EVENT_TYPES = (RECEIVED, STATUS)

_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_rfc3339(text: str) -> float:
    """Unix time of ``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` (UTC only, as relaybox writes them).

    Raises ``ValueError``. The fraction is added with one exact division, so a millisecond
    timestamp comes back as the float nearest to it and ``format_rfc3339`` returns the same text.
    """
    found = _RFC3339.fullmatch(text)
    if found is None:
        raise ValueError(f"not an RFC 3339 UTC timestamp: {text[:40]!r}")
    year, month, day, hour, minute, second, fraction = found.groups()
    # datetime checks the calendar (no February 30, no second 60).
    when = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    seconds = (when - _EPOCH) // timedelta(seconds=1)
    if not fraction:
        return float(seconds)
    scale: int = 10 ** len(fraction)  # int ** int is typed Any (a negative power is a float)
    return (seconds * scale + int(fraction)) / scale


def format_rfc3339(ts: float) -> str:
    """``2026-11-25T17:02:03.123Z``: UTC, exactly three fraction digits, ``Z``.

    Milliseconds are truncated, never rounded up (``.9999`` stays in its second). A time meant to
    sit exactly on a millisecond can be a hair below it in binary floating point
    (``139751028864.291 * 1000`` is ``...290.98``), so values within a few float steps of a whole
    millisecond are snapped to it. The step is relative (``math.ulp``): a fixed epsilon such as
    ``floor(ts * 1000 + 1e-6)`` is below one float step of ``ts * 1000`` (0.24 µs today, more
    later), so it does nothing. ``format_rfc3339(parse_rfc3339(text)) == text`` for every date.
    """
    scaled = ts * 1000
    nearest = round(scaled)
    millis = nearest if abs(scaled - nearest) <= 4 * math.ulp(scaled) else math.floor(scaled)
    seconds, milli = divmod(millis, 1000)
    when = _EPOCH + timedelta(seconds=seconds)
    # isoformat, unlike strftime's %Y, pads years before 1000 to four digits.
    return f"{when.replace(tzinfo=None).isoformat(timespec='seconds')}.{milli:03d}Z"


def envelope(event_id: str, event_type: str, created_at: float, event: Mapping[str, Any]) -> bytes:
    """Compact JSON, keys in the documented order, UTF-8, no trailing newline."""
    doc = {
        "event_id": event_id,
        "event_type": event_type,
        "created_at": format_rfc3339(created_at),
        "event": dict(event),
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
