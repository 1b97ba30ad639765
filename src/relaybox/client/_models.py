"""What the SDK hands back: messages, list entries, and the errors read from response headers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from relaybox.errors import ApiError, ErrorCode, RelayboxError
from relaybox.wire import headers as h
from relaybox.wire.timestamps import parse_date

_ERROR_RE = re.compile(r"^\s*code=(?P<code>\d{1,9})\s*;\s*message=(?P<message>.*)$", re.DOTALL)
_UINT_RE = re.compile(r"[0-9]{1,18}")
_EXT_NAME_RE = re.compile(r"filename\*\s*=\s*(?P<charset>[A-Za-z0-9_-]+)'[^']*'(?P<value>[^;\s]+)", re.IGNORECASE)
_PLAIN_NAME_RE = re.compile(
    r'(?:^|;)\s*filename\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^;\s]+))', re.IGNORECASE
)


@dataclass(frozen=True)
class Message:
    """One message as served by get-message, get-next-message or wait-next-message.

    Fields the vendor service does not send (``from_route``, ``message_id``, ``md5``, ``expires``)
    are ``None`` when absent. ``data`` holds the payload, unless the message was streamed to a
    destination (``dest=``/``get_to_file``): then ``data`` is empty and ``path`` names the file
    written (``None`` when the destination was a file object).

    >>> msg.file_name, msg.size, msg.data[:4]   # doctest: +SKIP
    ('invoice.xml', 925, b'<?xm')
    """

    link: str
    from_route: str | None
    message_id: str | None
    file_name: str | None
    md5: str | None
    expires: float | None
    pay_for_reply: bool
    attachment_count: int
    size: int
    request_id: str | None
    data: bytes = field(default=b"", repr=False)
    path: Path | None = None


@dataclass(frozen=True)
class MessageInfo:
    """One entry of list-messages. Only ``link`` and the two dates are guaranteed (the vendor
    sends nothing else); the additive fields are ``None`` when the server leaves them out.
    ``raw`` is the JSON object as received, for fields this SDK does not know yet.
    Dates are POSIX timestamps (the server's ``YYYY-MM-DD HH:MM:SS`` UTC).

    >>> [(i.link, i.file_name, i.size) for i in rb.list()]   # doctest: +SKIP
    [('sMCRyW4S1C0DTQ9cIwPr1w', 'invoice.xml', 925)]
    """

    link: str
    received_date: float
    expiration_date: float
    from_route: str | None = None
    message_id: str | None = None
    file_name: str | None = None
    size: int | None = None
    md5: str | None = None
    attachment_count: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> MessageInfo:
        def opt_str(key: str) -> str | None:
            value = item.get(key)
            return value if isinstance(value, str) else None

        def opt_int(key: str) -> int | None:
            value = item.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(
            link=str(item["link"]),
            received_date=parse_date(str(item["received_date"])),
            expiration_date=parse_date(str(item["expiration_date"])),
            from_route=opt_str("from"),
            message_id=opt_str("message_id"),
            file_name=opt_str("file_name"),
            size=opt_int("size"),
            md5=opt_str("md5"),
            attachment_count=opt_int("attachment_count"),
            raw=dict(item),
        )


class ChecksumMismatch(RelayboxError):
    """The downloaded bytes do not hash to the ``Message-MD5`` the server announced.

    ``received`` describes the message (its ``data`` is empty); nothing was left at a path
    destination, but a file-object destination has already been written to."""

    def __init__(self, received: Message, actual: str) -> None:
        self.received = received
        self.link = received.link
        self.expected = received.md5 or ""
        self.actual = actual
        super().__init__(
            ErrorCode.MD5_MISMATCH,
            f"MD5 of message {received.link} is {actual}, the server announced {self.expected}",
        )


def parse_uint(value: str) -> int | None:
    """A decimal header value (``Content-Length``, ``Retry-After``...), ``None`` when it is not one."""
    value = value.strip()
    return int(value) if _UINT_RE.fullmatch(value) else None


def decode_file_name(headers: Mapping[str, str]) -> str | None:
    """The sender's file name, from ``Content-Disposition`` and ``Message-File-Name``.

    The server sends ASCII names as they are and non-ASCII names percent-encoded, so a bare
    ``Message-File-Name`` is ambiguous (``a%20b`` may be a literal ASCII name). RFC 5987
    ``filename*`` settles it when present; a plain ``filename=`` says the name is ASCII.
    Without either (the vendor), decode only if the result is non-ASCII UTF-8.
    """
    disposition = headers.get("content-disposition", "")
    ext = _EXT_NAME_RE.search(disposition)
    if ext:
        charset = ext["charset"].lower()
        try:
            return unquote(ext["value"], encoding="utf-8" if charset == "utf-8" else "latin-1", errors="strict")
        except (UnicodeDecodeError, LookupError):
            pass
    raw = headers.get(h.R_MESSAGE_FILE_NAME)
    plain = _PLAIN_NAME_RE.search(disposition)
    if raw is None:
        if plain is None:
            return None
        return plain["token"] if plain["token"] is not None else re.sub(r"\\(.)", r"\1", plain["quoted"])
    if plain is not None or "%" not in raw:
        return raw
    try:
        decoded = unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return raw
    return decoded if not decoded.isascii() else raw


def parse_message(
    headers: Mapping[str, str], *, size: int, data: bytes = b"", path: Path | None = None, link: str = ""
) -> Message:
    """Build a ``Message`` from the headers of a 200 answer of get/get-next/wait-next-message."""
    expires_raw = headers.get(h.R_MESSAGE_EXPIRES)
    try:
        expires = parse_date(expires_raw.strip()) if expires_raw else None
    except ValueError:
        expires = None
    count_raw = headers.get(h.R_ATTACHMENT_COUNT, "1")
    md5 = headers.get(h.R_MESSAGE_MD5)
    return Message(
        link=headers.get(h.R_MESSAGE_LINK) or link,
        from_route=headers.get(h.R_MESSAGE_FROM),
        message_id=headers.get(h.R_MESSAGE_ID),
        file_name=decode_file_name(headers),
        md5=md5.strip().lower() if md5 else None,
        expires=expires,
        pay_for_reply=headers.get(h.R_PAY_FOR_REPLY, "0").strip() == "1",
        attachment_count=parse_uint(count_raw) or 1,
        size=size,
        request_id=headers.get(h.REQUEST_ID),
        data=data,
        path=path,
    )


def api_error(status: int, headers: Mapping[str, str], reason: str = "") -> ApiError:
    """The ``ApiError`` for a failure answer. Answers without an ``error`` header (a proxy in
    between, say) use the HTTP status as the code, so callers always get a number."""
    request_id = headers.get(h.REQUEST_ID)
    match = _ERROR_RE.match(headers.get(h.ERROR, ""))
    if match:
        error = ApiError(int(match["code"]), match["message"].strip(), request_id, status)
    else:
        error = ApiError(status, reason or f"HTTP {status}", request_id, status)
    error.retry_after = parse_uint(headers.get("retry-after", ""))
    return error
