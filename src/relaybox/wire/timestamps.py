"""``request-timestamp`` parsing and the date formats of responses.

Accepted: ``YYYY-MM-DDTHH:MM:SS`` with an optional fraction of 1-9 digits and an optional ``Z``
or ``+HH:MM``/``-HH:MM`` offset (none = UTC). That covers ``date -Iseconds`` in any time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_TS_RE = re.compile(
    r"^(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:\.(?P<frac>[0-9]{1,9}))?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?$"
)


class TimestampError(ValueError):
    """The value is not an accepted ISO 8601 timestamp."""


def parse_timestamp(value: str) -> float:
    """Return the POSIX time of ``value``; raise ``TimestampError`` if malformed."""
    m = _TS_RE.fullmatch(value)
    if not m:
        raise TimestampError("expected YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM]")
    tz = m["tz"]
    if tz is None or tz == "Z":
        tzinfo: timezone = UTC
    else:
        hours, minutes = int(tz[1:3]), int(tz[4:6])
        if hours > 23 or minutes > 59:
            raise TimestampError("offset out of range")
        sign = 1 if tz[0] == "+" else -1
        tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        dt = datetime(int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"]), tzinfo=tzinfo)
    except ValueError as exc:
        raise TimestampError(str(exc)) from None
    frac = m["frac"]
    return dt.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)


def format_timestamp(when: float) -> str:
    """A ``request-timestamp`` for ``when``: UTC with microseconds, so that two calls in one
    second get two different request keys."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_date(when: float) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, the format of ``received_date``/``expiration_date``."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_date(value: str) -> float:
    """Inverse of ``format_date``."""
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
