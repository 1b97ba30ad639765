"""What the management SDK hands back: ``/v1`` entities, call results and ``ManagementError``.

Every entity keeps the JSON object it was read from in ``raw`` and ignores fields it does not
know, so a newer server never breaks an older SDK. Field names are the spec's, in snake_case;
timestamps stay Unix milliseconds, as on the wire (``*_at`` properties give ``datetime``\\ s).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from relaybox.client._models import parse_uint
from relaybox.errors import ApiError
from relaybox.wire import headers as h

_TRUNCATION_RE = re.compile(r"^\s*\(\s*(-?[0-9]{1,9})\s*,\s*(-?[0-9]{1,9})\s*\)\s*$")
_DELETED_RE = re.compile(r"\bDeleted\s+([0-9]{1,9})\s+messages?\b")


class ManagementError(ApiError):
    """The management API refused a request (any non-2xx answer), or answered something unreadable.

    ``status`` is the HTTP status (also ``code`` and ``http_status``: ``/v1`` has no wire codes),
    ``message`` the ``{"message": ...}`` of the body, ``request_id`` the ``request-id`` header and
    ``retry_after`` the seconds of a 429's ``Retry-After`` (``None`` when absent). It is an
    :class:`relaybox.errors.ApiError`, so one ``except ApiError`` covers both relaybox APIs.

    Example::

        try:
            mc.get_received("nope")
        except ManagementError as exc:
            print(exc.status, exc.message, exc.request_id)   # 404 Message nope not found 2026...
    """

    def __init__(
        self, status: int, message: str, request_id: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(status, message, request_id, status)
        self.retry_after = retry_after
        self.args = (f"{status}: {message}",)  # not RelayboxError's "500: ..." (its fallback ErrorCode)

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.message} [request-id {self.request_id or '-'}]"


def error_from(response: httpx.Response) -> ManagementError:
    """The error of a failure answer. The body must have been read (``read``/``aread``) first."""
    message: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    if not message:
        text = response.text.strip()
        message = text[:200] if text and not text.startswith(("{", "<")) else response.reason_phrase
    return ManagementError(
        response.status_code,
        message or f"HTTP {response.status_code}",
        response.headers.get(h.REQUEST_ID),
        parse_uint(response.headers.get("retry-after", "")),
    )


def unexpected(response: httpx.Response, what: str) -> ManagementError:
    """A 2xx answer whose body is not what the spec promises (a proxy, a wrong URL...)."""
    return ManagementError(
        response.status_code, f"Unexpected response: {what}", response.headers.get(h.REQUEST_ID), None
    )


def _ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _opt_str(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def _opt_int(item: Mapping[str, Any], key: str) -> int | None:
    value = item.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_bool(item: Mapping[str, Any], key: str) -> bool | None:
    value = item.get(key)
    return value if isinstance(value, bool) else None


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not a JSON object")
    return value


@dataclass(frozen=True)
class Token:
    """A token from ``POST /v1/authorize``; ``expiry_ms`` is Unix milliseconds."""

    token: str = field(repr=False)
    expiry_ms: int

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expiry_ms / 1000, UTC)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Token:
        token, expiry = item.get("token"), _opt_int(item, "expiry")
        if not isinstance(token, str) or not token or expiry is None:
            raise ValueError("not a token document")
        return cls(token, expiry)


@dataclass(frozen=True)
class Attachment:
    """One attachment of an AS2 message, as listed (the bytes come from ``attachment()``)."""

    index: int
    name: str
    size: int


@dataclass(frozen=True)
class MdnMessage:
    """The receipt summary an AS2 message carries once its receipt exists (``mdnMessage``)."""

    persisted_timestamp: int | None
    mdn_error: bool
    content: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def persisted_at(self) -> datetime | None:
        return _ms_to_datetime(self.persisted_timestamp)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> MdnMessage:
        item = _object(item, "mdnMessage")
        return cls(
            persisted_timestamp=_opt_int(item, "persistedTimestamp"),
            mdn_error=bool(item.get("mdnError", False)),
            content=_opt_str(item, "content"),
            raw=dict(item),
        )


@dataclass(frozen=True)
class As2Message:
    """One AS2 Message entity: a view of a message (received, sent, queued or a failure entry).

    ``as2_message_id`` is the ``{id}`` of every message call. Sender-only fields
    (``transport_status_received``, ``delivery_status``, ``state``) and the receiver-only ``read``
    are ``None`` where the server omits them; ``subject`` is ``None`` when there is none.

    >>> [(m.as2_message_id, m.sender_id, [a.name for a in m.attachments]) for m in page.records]  # doctest: +SKIP
    [('sMCRyW4S1C0DTQ9cIwPr1w', 'alpha@bars01', ['a.txt', 'b.txt'])]
    """

    as2_message_id: str
    message_id: str | None
    persisted_timestamp: int | None
    expiry_timestamp: int | None
    subject: str | None
    sender_id: str | None
    receiver_id: str | None
    mdn_status: str | None
    partner_type: str | None
    attachments: list[Attachment]
    transport_status_received: int | None = None
    delivery_status: str | None = None
    state: str | None = None
    read: bool | None = None
    mdn_message: MdnMessage | None = None
    compressed: bool = False
    encrypted: bool = False
    signed: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def id(self) -> str:
        """Alias of ``as2_message_id``."""
        return self.as2_message_id

    @property
    def size(self) -> int:
        """Total bytes of all attachments."""
        return sum(a.size for a in self.attachments)

    @property
    def persisted_at(self) -> datetime | None:
        return _ms_to_datetime(self.persisted_timestamp)

    @property
    def expires_at(self) -> datetime | None:
        return _ms_to_datetime(self.expiry_timestamp)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> As2Message:
        item = _object(item, "AS2 message")
        as2_id = item.get("as2MessageId")
        if not isinstance(as2_id, str):
            raise ValueError("AS2 message without as2MessageId")
        attachments = []
        for index, entry in enumerate(item.get("attachments") or []):
            if isinstance(entry, Mapping):
                attachments.append(Attachment(index, str(entry.get("name", "")), _opt_int(entry, "size") or 0))
        mdn = item.get("mdnMessage")
        return cls(
            as2_message_id=as2_id,
            message_id=_opt_str(item, "messageId"),
            persisted_timestamp=_opt_int(item, "persistedTimestamp"),
            expiry_timestamp=_opt_int(item, "expiryTimestamp"),
            subject=_opt_str(item, "subject"),
            sender_id=_opt_str(item, "senderId"),
            receiver_id=_opt_str(item, "receiverId"),
            mdn_status=_opt_str(item, "mdnStatus"),
            partner_type=_opt_str(item, "partnerType"),
            attachments=attachments,
            transport_status_received=_opt_int(item, "transportStatusReceived"),
            delivery_status=_opt_str(item, "deliveryStatus"),
            state=_opt_str(item, "state"),
            read=_opt_bool(item, "read"),
            mdn_message=MdnMessage.from_json(mdn) if isinstance(mdn, Mapping) else None,
            compressed=bool(item.get("compressed", False)),
            encrypted=bool(item.get("encrypted", False)),
            signed=bool(item.get("signed", False)),
            raw=dict(item),
        )


@dataclass(frozen=True)
class Page:
    """One page of a message list: ``total_records`` counts every match, before paging."""

    total_records: int
    records: list[As2Message]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Page:
        item = _object(item, "page")
        total, records = _opt_int(item, "totalRecords"), item.get("records")
        if total is None or not isinstance(records, list):
            raise ValueError("not a Pagination document")
        return cls(total, [As2Message.from_json(r) for r in records], dict(item))


@dataclass(frozen=True)
class Partner:
    """A partner record of one of the caller's stations. ``uri`` ``None`` means a local partner."""

    partner_id: int
    station_as2_id: str | None
    as2_identifier: str
    name: str | None
    description: str | None
    uri: str | None
    message_subject: str | None
    custom_headers: list[tuple[str, str]]
    pause_incoming: bool
    pause_outgoing: bool
    send_timeout: int | None
    partner_type: str | None
    request_mdn: bool
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Partner:
        item = _object(item, "partner")
        pid, route = _opt_int(item, "partnerId"), item.get("as2Identifier")
        if pid is None or not isinstance(route, str):
            raise ValueError("not a Partner document")
        headers = [
            (str(entry.get("headerKey", "")), str(entry.get("headerValue", "")))
            for entry in item.get("customHeaders") or []
            if isinstance(entry, Mapping)
        ]
        return cls(
            partner_id=pid,
            station_as2_id=_opt_str(item, "stationAS2Id"),
            as2_identifier=route,
            name=_opt_str(item, "name"),
            description=_opt_str(item, "description"),
            uri=_opt_str(item, "uri"),
            message_subject=_opt_str(item, "messageSubject"),
            custom_headers=headers,
            pause_incoming=bool(item.get("pauseIncoming", False)),
            pause_outgoing=bool(item.get("pauseOutgoing", False)),
            send_timeout=_opt_int(item, "sendTimeout"),
            partner_type=_opt_str(item, "partnerType"),
            request_mdn=bool(item.get("requestMdn", True)),
            raw=dict(item),
        )


@dataclass(frozen=True)
class Station:
    """One of the caller's stations (a route linked to the account)."""

    id: int | None
    as2_identifier: str
    name: str | None
    comments: str | None
    email: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Station:
        item = _object(item, "station")
        route = item.get("as2Identifier")
        if not isinstance(route, str):
            raise ValueError("not a Station document")
        return cls(
            id=_opt_int(item, "id"),
            as2_identifier=route,
            name=_opt_str(item, "name"),
            comments=_opt_str(item, "comments"),
            email=_opt_str(item, "email"),
            raw=dict(item),
        )


@dataclass(frozen=True)
class SendResult:
    """A send's 202: the new message's id (from ``Link``), the link URL itself and the body's message."""

    message_id: str
    link: str
    message: str
    request_id: str | None


@dataclass(frozen=True)
class BatchResult:
    """A batch download: the zip, and whether the server stopped at its size cap (206).

    ``truncation_index`` is ``(i, j)`` of ``X-Batch-Truncation-Index``: request position and
    attachment index of the last attachment in the zip (``(-1, -1)``: none fitted).
    """

    zip_bytes: bytes = field(repr=False)
    partial: bool
    truncation_index: tuple[int, int] | None
    request_id: str | None = None


@dataclass(frozen=True)
class Download:
    """A streamed download: the server's file name, the byte count and SHA-256 of what was written,
    and the path written (``None`` when the destination was a file object)."""

    file_name: str | None
    size: int
    sha256: str
    path: Path | None
    request_id: str | None


def parse_link(value: str) -> tuple[str, str]:
    """``(message id, URL)`` of a send's ``Link`` header: a plain URL (the seed) or ``<URL>; rel=...``."""
    text = value.strip()
    if text.startswith("<"):
        end = text.find(">")
        if end < 0:
            raise ValueError(f"malformed Link header: {value!r}")
        text = text[1:end]
    url = httpx.URL(text.strip())
    segments = url.path.rstrip("/").split("/")
    if len(segments) < 2 or not segments[-1]:
        raise ValueError(f"no message id in Link header: {value!r}")
    # httpx.URL.path is already percent-decoded.
    return segments[-1], str(url)


def parse_truncation_index(value: str | None) -> tuple[int, int] | None:
    """``"(1,2)"`` -> ``(1, 2)``; ``None`` when absent or malformed."""
    if value is None:
        return None
    match = _TRUNCATION_RE.match(value)
    return (int(match[1]), int(match[2])) if match else None


def parse_deleted_count(message: str) -> int:
    """N of a bulk delete's ``Deleted N messages``."""
    match = _DELETED_RE.search(message)
    if not match:
        raise ValueError(f"no count in {message!r}")
    return int(match[1])
