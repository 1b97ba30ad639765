"""Outbound push to a remote partner (``webhooks.md``, "Delivery" and "Outbound push to partners
with a ``uri``"): the retry schedule, how an answer is classified, and the headers of both
transports.

- Federation: ``POST {uri}/1/send-message`` with the route API's headers, signed by the
  ``request-key`` of ``route-api.md`` (``federation_url``, ``federation_headers``).
- Plain HTTPS: ``POST {uri}`` with the file as the body and ``Message-*`` headers, signed by the
  Date+digest scheme of ``request-signing.md`` with HMAC-SHA256 (``https_headers``).

Pure: standard library and ``relaybox.wire`` only, no I/O; the outbox worker does the sending.

Layering note: ``wire`` may not import ``relaybox.auth`` (``tests/test_layering.py``), so the
two signatures are computed here with a few private lines rather than through
``relaybox.auth.signing.send_key`` and ``relaybox.wire.digest``. ``tests/test_push_wire.py``
pins both copies to those modules on the spec's vectors and on generated inputs.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from relaybox.wire import digest
from relaybox.wire import headers as h

Outcome = Literal["sent", "retry", "refused"]

# RELAYBOX_WEBHOOK_RETRY_SCHEDULE: the delays after each failed attempt (attempts = delays + 1).
DEFAULT_SCHEDULE = "10s,1m,5m,30m,1h,2h,4h,8h,8h"
# RELAYBOX_WEBHOOK_JITTER: each delay is spread uniformly by +-20 % so that a partner that was
# down does not get every queued push back in the same second.
DEFAULT_JITTER = 0.2
# A Retry-After is obeyed up to one day: a partner must not park a message for longer.
MAX_RETRY_AFTER = 86400.0
# Permanent refusals: retrying the same push cannot succeed. 401 is not here on purpose: fixing a
# clock or a secret must not lose a message.
REFUSED_STATUSES = frozenset({400, 404, 409, 410, 413, 415, 422})

SEND_MESSAGE_PATH = "/1/send-message"
PUSH_PROVIDER = "relaybox_api"
OCTET_STREAM = "application/octet-stream"
MAX_CUSTOM_HEADERS = 20
MAX_CUSTOM_NAME = 64
MAX_CUSTOM_VALUE = 1024
# Headers a partner's customHeaders may not set: the ones relaybox sets on either transport,
# plus those that frame or route the request (a wrong Content-Length or Host would be request
# smuggling, a Content-Encoding would change what the body means).
RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "content-disposition",
        "content-type",
        "date",
        "user-agent",
        h.REQUEST_TIMESTAMP,
        h.REQUEST_FROM,
        h.REQUEST_KEY,
        h.PAY_FOR_REPLY,
        "host",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
_MESSAGE_PREFIX = "message-"

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"(?P<minus>-?)(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>[A-Za-z]*)")
_DURATION_HELP = "expected a number with an optional unit s, m, h or d (e.g. 10s, 5m, 5d; no unit = seconds)"
_DIGITS_RE = re.compile(r"[0-9]+")
# RFC 9110 token: the only characters a header name may have.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Printable ASCII and space: no CR/LF (header injection), no NUL, and nothing httpx would fail
# to encode at send time (it encodes header values as ASCII).
_VALUE_RE = re.compile(r"[\x20-\x7e]*")
_MESSAGE_ID_RE = re.compile(r"[\x20-\x7e]{1,128}")
# RFC 3986 unreserved: what Message-File-Name and filename* leave unencoded.
_UNRESERVED = "-._~"
# HTTP optional whitespace (RFC 9110 OWS), what the Date+digest scheme trims.
_OWS = " \t"


# --- schedule ------------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds of one duration such as ``10s``, ``5m``, ``5d`` or ``30`` (``RELAYBOX_*`` settings).

    Decimals are allowed (``1.5h``); negative, empty, infinite values and unknown units raise
    ``ValueError`` with the accepted form in the message, so a bad setting fails at start-up.
    """
    item = text.strip()
    match = _DURATION_RE.fullmatch(item)
    if not item or match is None:
        raise ValueError(f"bad duration {text!r}: {_DURATION_HELP}")
    if match["minus"]:
        raise ValueError(f"negative duration {text!r}: delays cannot go back in time")
    unit = match["unit"] or "s"
    if unit not in _UNITS:
        raise ValueError(f"bad unit {match['unit']!r} in duration {text!r}: {_DURATION_HELP}")
    seconds = float(match["number"]) * _UNITS[unit]
    if not math.isfinite(seconds):
        raise ValueError(f"duration {text!r} is too large")
    return seconds


def parse_schedule(text: str) -> tuple[float, ...]:
    """The delays of a schedule such as ``DEFAULT_SCHEDULE``, in seconds, in order.

    Items are comma-separated with optional spaces around the commas. An empty schedule, an
    empty item (``10s,,1m``) or a bad item raises ``ValueError`` naming the item.
    """
    if not text.strip():
        raise ValueError(f"empty retry schedule: give at least one delay, e.g. {DEFAULT_SCHEDULE!r}")
    delays: list[float] = []
    for position, item in enumerate(text.split(","), start=1):
        try:
            delays.append(parse_duration(item))
        except ValueError as exc:
            raise ValueError(f"retry schedule {text!r}, delay {position}: {exc}") from None
    return tuple(delays)


def next_delay(schedule: Sequence[float], attempts_done: int, jitter: float, rand: Callable[[], float]) -> float | None:
    """Seconds to wait after failed attempt number ``attempts_done`` (1-based), or ``None`` when
    that was the last attempt (a schedule of N delays allows N + 1 attempts).

    The delay is ``schedule[attempts_done - 1]`` spread uniformly by ``+-jitter`` (a fraction,
    0..1) with ``rand()`` in [0, 1]; ``rand`` is a parameter so that tests are deterministic.
    """
    if attempts_done < 1:
        raise ValueError(f"attempts_done must be >= 1, not {attempts_done}")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be between 0 and 1, not {jitter}")
    if attempts_done > len(schedule):
        return None
    r = rand()
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"rand() must return a number in [0, 1], not {r}")
    return schedule[attempts_done - 1] * (1.0 + jitter * (2.0 * r - 1.0))


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` answer asks to wait (RFC 9110: delay-seconds or an HTTP-date),
    clamped to [0, ``MAX_RETRY_AFTER``]; ``None`` when absent or unparseable, so the caller falls
    back to the schedule instead of trusting a garbled value."""
    if value is None:
        return None
    text = value.strip()
    if _DIGITS_RE.fullmatch(text):
        # Any value of more than 9 digits is past the cap; skipping int() of a huge string.
        seconds = float(text) if len(text) <= 9 else MAX_RETRY_AFTER
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": UTC by RFC 5322
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def classify(status: int | None) -> Outcome:
    """What one push attempt's answer means: 2xx ``sent``; a permanent refusal
    (``REFUSED_STATUSES``) ``refused``; anything else, no answer (``None``) included, ``retry``."""
    if status is None:
        return "retry"
    if 200 <= status <= 299:
        return "sent"
    if status in REFUSED_STATUSES:
        return "refused"
    return "retry"


# --- shared formatting ---------------------------------------------------------------------


def _utc(when: float, offset: str) -> str:
    """Whole seconds in UTC; the fraction is dropped (floored), never rounded up into the next
    second."""
    return datetime.fromtimestamp(math.floor(when), UTC).strftime("%Y-%m-%dT%H:%M:%S") + offset


def _flag(value: bool) -> str:
    return "1" if value else "0"


_ascii_lower = digest.ascii_lower


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_message_fields(sender_route: str, to: str, message_id: str, md5: str) -> None:
    """What both transports put in headers: refused here rather than by the remote, and never
    with a character that could end a header line."""
    _require(h.is_route(sender_route), f"sender route {sender_route!r} is not a route (local@domain)")
    _require(h.is_route(to), f"recipient route {to!r} is not a route (local@domain)")
    _require(bool(_MESSAGE_ID_RE.fullmatch(message_id)), "message id must be 1-128 printable ASCII characters")
    _require(h.is_md5(md5), "md5 must be 32 hex digits")


# --- federation ----------------------------------------------------------------------------


def federation_key(timestamp: str, sender: str, to: str, message_id: str, md5: str, secret: str) -> str:
    """The send-message ``request-key``: lowercase hex SHA-512 of the six values concatenated
    (``route-api.md``; the same as ``relaybox.auth.signing.send_key``)."""
    return hashlib.sha512(f"{timestamp}{sender}{to}{message_id}{md5}{secret}".encode()).hexdigest()


def federation_url(uri: str) -> str:
    """``{uri}/1/send-message`` for a partner's ``uri``.

    A path already ending in ``/1/send-message`` (a trailing ``/`` ignored) is kept; otherwise
    the path loses its trailing ``/`` and gets ``/1/send-message``. The query string is kept
    after the new path (``https://gw/base?x=1`` -> ``https://gw/base/1/send-message?x=1``): a
    remote behind a proxy may route or authenticate on it. A fragment is dropped: it is never
    sent. Not an absolute http(s) URL: ``ValueError``.
    """
    parts = urlsplit(uri)
    _require(parts.scheme.lower() in ("http", "https") and bool(parts.netloc), f"{uri!r} is not an http(s) URL")
    path = parts.path.rstrip("/")
    if not path.endswith(SEND_MESSAGE_PATH):
        path += SEND_MESSAGE_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def federation_headers(
    *,
    now: float,
    sender_route: str,
    to: str,
    message_id: str,
    md5: str,
    expires_in: int,
    pay_for_reply: bool,
    secret: str,
) -> dict[str, str]:
    """The route-API headers of a federation push attempt at ``now`` (the multipart body is the
    caller's). ``message_id`` must be the same on every attempt: the remote's idempotency (same
    sender, id and md5) then makes retries deliver once. ``expires_in`` < 1 is ``ValueError``:
    such a message is stopped (``expired before delivery``), not sent."""
    _check_message_fields(sender_route, to, message_id, md5)
    if expires_in < 1:
        raise ValueError(f"expires_in must be >= 1 second, not {expires_in}")
    timestamp = _utc(now, "+00:00")
    md5 = md5.lower()
    return {
        h.REQUEST_TIMESTAMP: timestamp,
        h.REQUEST_FROM: sender_route,
        h.REQUEST_KEY: federation_key(timestamp, sender_route, to, message_id, md5, secret),
        h.MESSAGE_TO: to,
        h.MESSAGE_ID: message_id,
        h.MESSAGE_MD5: md5,
        h.MESSAGE_EXPIRES_AFTER: str(expires_in),
        h.MESSAGE_PRIORITY: h.PRIORITY_NORMAL,
        h.PAY_FOR_REPLY: _flag(pay_for_reply),
    }


# --- plain HTTPS ---------------------------------------------------------------------------


def encode_file_name(name: str) -> str:
    """``Message-File-Name``: UTF-8 percent-encoded except RFC 3986 unreserved characters, so
    any name (spaces, quotes, CR/LF, non-ASCII) fits one header line and decodes back exactly."""
    return quote(name, safe=_UNRESERVED)


def _quoted_fallback(name: str) -> str:
    r"""The ``filename="..."`` form: ``"`` and ``\`` escaped, anything not printable ASCII as ``_``."""
    out = []
    for char in name:
        if char in '"\\':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append("_")
    return "".join(out)


def attachment_disposition(name: str) -> str:
    """``Content-Disposition`` of a push (RFC 6266): ``attachment; filename="..."``, plus
    ``filename*=UTF-8''...`` (RFC 5987) when the name is not plain printable ASCII, so that
    receivers that read ``filename*`` get the exact name and older ones a safe approximation."""
    value = f'attachment; filename="{_quoted_fallback(name)}"'
    if not all(" " <= char <= "~" for char in name):
        value += f"; filename*=UTF-8''{encode_file_name(name)}"
    return value


def _is_message_header(name: str) -> bool:
    return _ascii_lower(name).startswith(_MESSAGE_PREFIX)


def _check_custom_pair(name: str, value: str) -> None:
    """A header a partner may add: a 1-64 character HTTP token, and a value of at most 1024
    printable ASCII characters (no CR/LF/NUL: header injection)."""
    _require(
        len(name) <= MAX_CUSTOM_NAME and bool(_TOKEN_RE.fullmatch(name)),
        f"custom header name {name!r} must be an HTTP token of 1-{MAX_CUSTOM_NAME} characters",
    )
    _require(
        len(value) <= MAX_CUSTOM_VALUE and bool(_VALUE_RE.fullmatch(value)),
        f"custom header {name!r}: the value must be at most {MAX_CUSTOM_VALUE} printable ASCII characters",
    )


def check_custom_headers(pairs: Iterable[tuple[str, str]]) -> None:
    """Refuse (``ValueError``) a partner's customHeaders that no push could send as given:
    more than 20, a ``Message-*`` name (it would have to be signed), a name relaybox sets or
    that frames the request (``RESERVED_HEADERS``), a repeated name, or a bad name or value.
    Called at partner creation so that the API answers 400 instead of pushes failing later."""
    seen: set[str] = set()
    for name, value in pairs:
        key = _ascii_lower(name)
        _require(not _is_message_header(name), f"custom header {name!r}: Message-* headers are set by relaybox")
        _require(key not in RESERVED_HEADERS, f"custom header {name!r} is set by relaybox")
        _require(key not in seen, f"custom header {name!r} is repeated")
        _check_custom_pair(name, value)
        seen.add(key)
    _require(len(seen) <= MAX_CUSTOM_HEADERS, f"at most {MAX_CUSTOM_HEADERS} custom headers")


def _custom_to_add(custom: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The customHeaders a push adds: reserved names skipped (they cannot replace what relaybox
    sets), ``Message-*`` names and bad pairs refused, as ``check_custom_headers`` does."""
    added: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in custom:
        key = _ascii_lower(name)
        _require(not _is_message_header(name), f"custom header {name!r}: Message-* headers are set by relaybox")
        if key in RESERVED_HEADERS:
            continue
        _require(key not in seen, f"custom header {name!r} is repeated")
        _check_custom_pair(name, value)
        seen.add(key)
        added[name] = value
    return added


def https_headers(
    *,
    now: float,
    sender_route: str,
    to: str,
    message_id: str,
    file_name: str,
    md5: str,
    expires_at: float,
    pay_for_reply: bool,
    content_type: str | None,
    body_md5: str,
    uri_path_and_query: str,
    push_secret: str,
    custom: Sequence[tuple[str, str]] = (),
) -> dict[str, str]:
    """The headers of a plain HTTPS push attempt at ``now`` (the body is the file's bytes).

    ``Authorization: relaybox_api <Message-From>:<base64 HMAC-SHA256>`` over the Date+digest
    string with key ``push_secret``; its custom line signs every ``Message-*`` header, so a
    receiver can trust who sent what, to whom and until when. ``uri_path_and_query`` must be
    the request target exactly as the HTTP client will send it (with httpx:
    ``httpx.URL(uri).raw_path``). ``custom`` (the partner's customHeaders) is added unsigned.
    """
    _check_message_fields(sender_route, to, message_id, md5)
    _require(h.is_md5(body_md5), "body_md5 must be 32 hex digits")
    _require(bool(file_name), "file name must not be empty")
    _require(bool(push_secret), "push secret must not be empty")
    target_ok = uri_path_and_query.startswith("/") and bool(re.fullmatch(r"[\x21-\x7e]+", uri_path_and_query))
    _require(target_ok, "uri_path_and_query must be an origin-form request target ('/path?query')")
    ctype = (content_type or "").strip() or OCTET_STREAM
    _require(bool(_VALUE_RE.fullmatch(ctype)), "content type must be printable ASCII")
    message = {
        "Message-From": sender_route,
        "Message-To": to,
        "Message-Id": message_id,
        "Message-File-Name": encode_file_name(file_name),
        "Message-MD5": md5.lower(),
        "Message-Expires": _utc(expires_at, "Z"),
        "Message-Pay-For-Reply": _flag(pay_for_reply),
    }
    date = _utc(now, "Z")
    d = digest.digest_string("POST", body_md5, ctype, date, digest.custom_lines(message.items()), uri_path_and_query)
    signature = digest.sign(push_secret, d, "sha256")
    return {
        "Content-Type": ctype,
        "Content-Disposition": attachment_disposition(file_name),
        "Date": date,
        **message,
        "Authorization": f"{PUSH_PROVIDER} {sender_route}:{signature}",
        **_custom_to_add(custom),
    }
