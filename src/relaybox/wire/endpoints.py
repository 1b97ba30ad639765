"""Input rules of ``/v1/webhooks`` bodies (pure; refusals are 400 ``V1Error``s)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from relaybox.errors import bad_request
from relaybox.wire.events import EVENT_TYPES
from relaybox.wire.headers import has_control_chars, is_route

MAX_URL = 2048
MAX_DESCRIPTION = 256
DEFAULT_TIMEOUT = 15
_BOOLEANS = ("enabled", "standardWebhooks")


def check_url(value: Any, *, require_https: bool) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_URL or has_control_chars(value) or " " in value:
        raise bad_request(f"url must be an absolute http:// or https:// URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise bad_request("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("url must be an absolute http:// or https:// URL")
    if require_https and parts.scheme != "https":
        raise bad_request("url must use https (RELAYBOX_WEBHOOK_REQUIRE_HTTPS is on)")
    return value


def check_event_types(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise bad_request(f"eventTypes must be a non-empty array of {', '.join(EVENT_TYPES)}")
    unknown = [v for v in value if v not in EVENT_TYPES]
    if unknown:
        raise bad_request(f"Unknown event type {unknown[0][:64]!r}: use {', '.join(EVENT_TYPES)}")
    return tuple(t for t in EVENT_TYPES if t in value)


def endpoint_fields(doc: Any, *, create: bool, require_https: bool) -> dict[str, Any]:
    """The endpoint's fields (snake_case) from a create or PUT body; on create the defaults
    are filled in and ``stationAS2Id``, ``url``, ``eventTypes`` are required. ``secret`` is
    returned as given (the caller checks its form)."""
    if not isinstance(doc, dict):
        raise bad_request("Body must be a JSON object (a webhook endpoint)")
    out: dict[str, Any] = {}
    if create:
        for key in ("stationAS2Id", "url", "eventTypes"):
            if key not in doc:
                raise bad_request(f"{key} is required")
        station = doc["stationAS2Id"]
        if not isinstance(station, str) or not is_route(station):
            raise bad_request("stationAS2Id must be a route (local@domain)")
        out["station"] = station
    elif "stationAS2Id" in doc:
        raise bad_request("stationAS2Id cannot change")
    if "url" in doc:
        out["url"] = check_url(doc["url"], require_https=require_https)
    if "eventTypes" in doc:
        out["event_types"] = check_event_types(doc["eventTypes"])
    for key in _BOOLEANS:
        if key in doc:
            if not isinstance(doc[key], bool):
                raise bad_request(f"{key} must be true or false")
            out["enabled" if key == "enabled" else "standard_webhooks"] = doc[key]
    if "description" in doc:
        text = doc["description"]
        if not isinstance(text, str) or len(text) > MAX_DESCRIPTION or has_control_chars(text):
            raise bad_request(f"description must be at most {MAX_DESCRIPTION} characters without control characters")
        out["description"] = text
    if "timeout" in doc:
        t = doc["timeout"]
        if not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= 60:
            raise bad_request("timeout must be an integer 1..60 (seconds)")
        out["timeout"] = t
    if "secret" in doc:
        if not create:
            raise bad_request("secret cannot be set by PUT: use rotate-secret")
        if not isinstance(doc["secret"], str):
            raise bad_request("secret must be a string")
        out["secret"] = doc["secret"]
    if create:
        out.setdefault("enabled", True)
        out.setdefault("standard_webhooks", False)
        out.setdefault("description", "")
        out.setdefault("timeout", DEFAULT_TIMEOUT)
    return out
