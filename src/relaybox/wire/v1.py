"""Input rules of the management API (/v1): query values, path routes, names, subjects and the
Partner body. Pure functions; every refusal is a 400 ``V1Error`` naming the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from relaybox.errors import V1Error, bad_request
from relaybox.wire import push
from relaybox.wire.headers import has_control_chars, is_route

MAX_QUERY_VALUE = 1024
PARTNER_TYPES = {"production": "Production", "test": "Test"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_SECRET = re.compile(r"[\x21-\x7e]{16,128}")
TRANSPORTS = ("federation", "https")


def decimal(value: str | None, digits: int = 18) -> int | None:
    """``value`` as a non-negative integer when it is 1..``digits`` ASCII digits, else None
    (``str.isdigit`` would accept other scripts' digits and superscripts, which ``int`` refuses)."""
    if value is None or not re.fullmatch(f"[0-9]{{1,{digits}}}", value):
        return None
    return int(value)


# Record ids are 32-bit on PostgreSQL: a larger one names nothing (0 never names a record).
MAX_RECORD_ID = 2**31 - 1


def record_id(value: str | None) -> int | None:
    """A partner, list or contact id from a path or query value: None when malformed; 0 (no
    such record, so a 404) when beyond any id the database can hold."""
    number = decimal(value)
    if number is None:
        return None
    return number if number <= MAX_RECORD_ID else 0


def query_value(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is not None and len(value) > MAX_QUERY_VALUE:
        raise bad_request(f"Query parameter {name} is longer than {MAX_QUERY_VALUE} characters")
    return value


def parse_bool(name: str, value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_request(f"Query parameter {name} must be true or false")


def parse_choice(name: str, value: str | None, choices: Mapping[str, str], default: str) -> str:
    """A case-insensitive enumeration; its canonical spelling."""
    if value is None:
        return default
    try:
        return choices[value.lower()]
    except KeyError:
        raise bad_request(f"Query parameter {name} must be one of {', '.join(choices.values())}") from None


def parse_int(name: str, value: str | None, default: int, lo: int, hi: int | None = None) -> int:
    if value is None:
        return default
    number = decimal(value, 9)
    if number is None or number < lo or (hi is not None and number > hi):
        bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise bad_request(f"Query parameter {name} must be an integer {bounds}")
    return number


def route_param(name: str, value: str) -> str:
    """A route in a path or query value (``@`` arrives decoded from ``%40``)."""
    if not is_route(value):
        raise bad_request(f"Invalid {name}: {value[:130]!r} is not a route (local@domain)")
    return value


def subject_value(value: str | None, name: str = "subject") -> str | None:
    """At most 255 characters without control characters; empty means none."""
    if value is None or value == "":
        return None
    if len(value) > 255 or has_control_chars(value):
        raise bad_request(f"Invalid {name}: at most 255 characters without control characters")
    return value


def file_name(value: str) -> str:
    if not 1 <= len(value) <= 255 or has_control_chars(value) or "/" in value or "\\" in value:
        raise bad_request(f"Invalid file name {value[:64]!r}: 1-255 characters, no control characters, / or \\")
    if value in (".", ".."):
        raise bad_request(f"Invalid file name {value!r}")
    return value


def message_ids(doc: Any, most: int = 100) -> list[str]:
    """A JSON array of 1..``most`` message ids (batch download and bulk delete)."""
    if not isinstance(doc, list) or not 1 <= len(doc) <= most:
        raise bad_request(f"Body must be a JSON array of 1 to {most} message ids")
    for item in doc:
        if not isinstance(item, str) or not _MESSAGE_ID.fullmatch(item):
            raise bad_request("Message ids are 1-128 characters of A-Z a-z 0-9 . _ ~ -")
    return list(doc)


def zip_entry_name(name: str) -> str:
    """A file name as a zip entry at one level: no path separators or control characters."""
    return re.sub(r"[/\\\x00-\x1f\x7f]", "_", name)


# -- Partner bodies ----------------------------------------------------------------------------
def partner_fields(doc: Any, *, create: bool) -> dict[str, Any]:
    """The Partner fields relaybox keeps, validated, as store fields (snake_case). The seed's
    other fields (certificates, algorithms, ...) and ``partnerId`` are ignored. On create the
    defaults are filled in; on update only the fields present."""
    if not isinstance(doc, dict):
        raise bad_request("Body must be a JSON object (a Partner)")
    out: dict[str, Any] = {}
    for key, field, check in _PARTNER_FIELDS:
        if key in doc:
            out[field] = check(key, doc[key])
        elif create and field in _DEFAULTS:
            out[field] = _DEFAULTS[field]
    if create:
        for key, field in (("stationAS2Id", "station"), ("as2Identifier", "route")):
            if field not in out:
                raise bad_request(f"Missing {key}")
        out.setdefault("name", out["route"])
    return out


def _str(key: str, value: Any, lo: int, hi: int, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not lo <= len(value) <= hi or has_control_chars(value):
        raise bad_request(f"Invalid {key}: {lo}-{hi} characters without control characters")
    return value


def _route(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise bad_request(f"Invalid {key}: must be a route (local@domain)")
    return route_param(key, value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"Invalid {key}: must be true or false")
    return value


def _timeout(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3600:
        raise bad_request(f"Invalid {key}: an integer number of seconds, 1..3600")
    return value


def _type(key: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in PARTNER_TYPES:
        raise bad_request(f"Invalid {key}: Production or Test")
    return PARTNER_TYPES[value.lower()]


def _uri(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2048 or has_control_chars(value) or " " in value:
        raise bad_request(f"Invalid {key}: an absolute http(s) URL of at most 2048 characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise bad_request(f"Invalid {key}: an absolute http(s) URL of at most 2048 characters")
    return value


def _subject(key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise bad_request(f"Invalid {key}: a string or null")
    return subject_value(value, key)


def _headers(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or len(value) > 20:
        raise bad_request(f"Invalid {key}: an array of at most 20 {{headerKey, headerValue}} objects")
    out = []
    for item in value:
        k = item.get("headerKey") if isinstance(item, dict) else None
        v = item.get("headerValue") if isinstance(item, dict) else None
        if not isinstance(k, str) or not _TOKEN.fullmatch(k):
            raise bad_request(f"Invalid {key}: headerKey must be an HTTP token of 1-64 characters")
        if not isinstance(v, str) or len(v) > 1024 or has_control_chars(v):
            raise bad_request(f"Invalid {key}: headerValue must be at most 1024 characters without control characters")
        out.append((k, v))
    return tuple(out)


def _transport(key: str, value: Any) -> str:
    if value not in TRANSPORTS:
        raise bad_request(f"Invalid {key}: {' or '.join(TRANSPORTS)}")
    return str(value)


def _secret(key: str, value: Any) -> str | None:
    """A secret relaybox signs pushes with: 16-128 printable ASCII characters, or null."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SECRET.fullmatch(value):
        raise bad_request(f"Invalid {key}: 16-128 printable ASCII characters")
    return value


def _custom_headers(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    pairs = _headers(key, value)
    try:
        push.check_custom_headers(pairs)
    except ValueError as exc:
        raise bad_request(f"Invalid {key}: {exc}") from None
    return pairs


_PARTNER_FIELDS: tuple[tuple[str, str, Any], ...] = (
    ("stationAS2Id", "station", _route),
    ("as2Identifier", "route", _route),
    ("name", "name", lambda k, v: _str(k, v, 1, 128)),
    ("description", "description", lambda k, v: _str(k, v, 0, 1024)),
    ("uri", "uri", _uri),
    ("messageSubject", "message_subject", _subject),
    ("customHeaders", "custom_headers", _custom_headers),
    ("pauseIncoming", "pause_incoming", _bool),
    ("pauseOutgoing", "pause_outgoing", _bool),
    ("sendTimeout", "send_timeout", _timeout),
    ("partnerType", "partner_type", _type),
    ("requestMdn", "request_mdn", _bool),
    # Outbound push (docs/webhooks.md): how relaybox reaches a partner with a uri.
    ("transport", "transport", _transport),
    ("remoteRoute", "remote_route", lambda k, v: None if v is None else _route(k, v)),
    ("remoteSecret", "remote_secret", _secret),
    ("pushSecret", "push_secret", _secret),
)
WRITE_ONLY = ("remoteSecret", "pushSecret")
_DEFAULTS: dict[str, Any] = {
    "description": "",
    "uri": None,
    "message_subject": None,
    "custom_headers": (),
    "pause_incoming": False,
    "pause_outgoing": False,
    "send_timeout": 60,
    "partner_type": "Production",
    "request_mdn": True,
    "transport": "federation",
    "remote_route": None,
    "remote_secret": None,
    "push_secret": None,
}

__all__ = [
    "PARTNER_TYPES",
    "decimal",
    "V1Error",
    "file_name",
    "message_ids",
    "parse_bool",
    "parse_choice",
    "parse_int",
    "partner_fields",
    "query_value",
    "route_param",
    "subject_value",
    "zip_entry_name",
]
