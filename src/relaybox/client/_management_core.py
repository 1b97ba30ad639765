"""What the sync and async management clients share: every ``/v1`` endpoint, described once as
a function that takes a public method's arguments and returns the request (a ``Call``: method,
path, query, body, how to parse the answer); the uploads, downloads and token handling.

The clients only run what these functions build (lazy authorize, one retry after a 401 of a
renewable token); their public methods are generated from them, so the two cannot drift apart.
"""

from __future__ import annotations

import enum
import hashlib
import inspect
import io
import mimetypes
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from relaybox.client._core import CHUNK, open_temp
from relaybox.client._management_models import (
    As2Message,
    BatchResult,
    Download,
    Page,
    Partner,
    SendResult,
    Station,
    Token,
    error_from,
    parse_deleted_count,
    parse_link,
    parse_truncation_index,
    unexpected,
)
from relaybox.client._models import decode_file_name
from relaybox.wire import headers as h

T = TypeVar("T")

#: The message lists (and get-one views).
View = Literal["received", "sent", "failed", "queued"]
#: The views whose attachments and receipts can be downloaded.
FileView = Literal["received", "sent"]
#: What ``delete``/``delete_many`` take.
DeleteType = Literal["received", "sent", "queued", "stopped", "failed"]
SortCol = Literal["persistedTimestamp", "receiverId", "senderId", "subject"]
SortDir = Literal["asc", "desc"]
PartnerType = Literal["production", "test"]
#: One file to send: bytes, a path, or a binary file object (sent from its start).
FileData = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]
#: ``(name, data)`` or ``(name, data, content_type)``.
NamedFile = tuple[str, FileData] | tuple[str, FileData, str]
#: What ``send`` takes: a path, a binary file object with a ``name``, one named file, or a list of
#: named files and paths.
SendFiles = str | os.PathLike[str] | IO[bytes] | NamedFile | Sequence[NamedFile | str | os.PathLike[str]]
#: A path (replaced atomically, through a temporary file beside it) or a binary file object.
DownloadDest = str | os.PathLike[str] | IO[bytes]

DEFAULT_TIMEOUT = 30.0
#: A token this close to its expiry is renewed before use rather than after a 401 (clock skew).
RENEW_MARGIN_MS = 30_000
MAX_PAGE_LENGTH = 100
_VIEWS = ("received", "sent", "failed", "queued")
_FILE_VIEWS = ("received", "sent")
_DELETE_TYPES = ("received", "sent", "queued", "stopped", "failed")
_PARTNER_TYPES = {"production": "Production", "test": "Test"}


class Unset(enum.Enum):
    """Marks a partner field a call leaves out (``None`` is a value: it clears ``uri``)."""

    UNSET = "UNSET"


UNSET = Unset.UNSET


def api_base(url: str) -> str:
    """The server's base URL; a trailing ``/v1`` (the seed's base path) is accepted and dropped."""
    base = url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def id_segment(value: str, what: str = "message id") -> str:
    """An id as one path segment: percent-encoded, never empty and never a dot segment."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise ValueError(f"invalid {what}: {value!r}")
    return quote(value, safe="")


def route_segment(value: str, what: str) -> str:
    """A route in a path: ``@`` stays as is (the spec allows ``@`` and ``%40``)."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise ValueError(f"invalid {what}: {value!r}")
    return quote(value, safe="@")


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _query_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- uploads -----------------------------------------------------------------------------------


@dataclass
class _Part:
    name: str
    file: IO[bytes]
    size: int
    content_type: str
    owned: bool


def _content_type(name: str) -> str:
    guessed = mimetypes.guess_type(name, strict=True)[0]
    # A raw upload with a multipart type would be read as multipart by the server.
    return guessed if guessed and not guessed.startswith("multipart/") else "application/octet-stream"


def _open_part(name: str, data: FileData, content_type: str | None) -> _Part:
    owned = False
    if isinstance(data, bytes | bytearray | memoryview):
        file: IO[bytes] = io.BytesIO(bytes(data))
        owned = True
    elif isinstance(data, str | os.PathLike):
        file = open(os.fspath(data), "rb")
        owned = True
    else:
        file = data
    try:
        try:
            seekable = bool(file.seekable())
        except (AttributeError, ValueError):
            seekable = False
        if not seekable:  # spooled once, so that a retry after a 401 can send it again
            spool = tempfile.TemporaryFile()
            while chunk := file.read(CHUNK):
                spool.write(chunk)
            file, owned = spool, True
        size = file.seek(0, io.SEEK_END)
        file.seek(0)
    except BaseException:
        if owned:
            file.close()
        raise
    return _Part(name, file, size, content_type or _content_type(name), owned)


def _is_named_file(value: object) -> bool:
    return isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[0], str)


def _named_files(files: SendFiles) -> list[tuple[str, FileData, str | None]]:
    if isinstance(files, str | os.PathLike):
        return [(os.path.basename(os.fspath(files)), files, None)]
    if _is_named_file(files):
        entries: Sequence[Any] = [files]
    elif isinstance(files, Sequence) and not isinstance(files, bytes | bytearray | memoryview):
        entries = files
    elif hasattr(files, "read"):
        name = os.path.basename(str(getattr(files, "name", "") or ""))
        if not name:
            raise ValueError("a file object without a name: pass (name, file) instead")
        return [(name, files, None)]
    else:
        raise TypeError(f"files must be a path, (name, data), or a list of (name, data), not {type(files).__name__}")
    result: list[tuple[str, FileData, str | None]] = []
    for entry in entries:
        if isinstance(entry, str | os.PathLike):
            result.append((os.path.basename(os.fspath(entry)), entry, None))
            continue
        if not _is_named_file(entry):
            raise TypeError(f"each file must be (name, data) or (name, data, content_type), not {entry!r}")
        result.append((entry[0], entry[1], entry[2] if len(entry) == 3 else None))
    if not result:
        raise ValueError("nothing to send: files is empty")
    return result


class Payload:
    """The files of one send, opened once: one file goes raw with a ``Name`` header, several as
    ``multipart/form-data`` parts named ``file``. Every attempt sends them from their start."""

    def __init__(self, files: SendFiles) -> None:
        self.parts: list[_Part] = []
        try:
            for name, data, content_type in _named_files(files):
                self.parts.append(_open_part(name, data, content_type))
        except BaseException:
            self.close()
            raise

    def _chunks(self) -> Iterator[bytes]:
        file = self.parts[0].file
        file.seek(0)
        while chunk := file.read(CHUNK):
            yield chunk

    async def _achunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks():
            yield chunk

    def apply(self, headers: dict[str, str | bytes], kwargs: dict[str, Any], is_async: bool) -> None:
        if len(self.parts) == 1:
            part = self.parts[0]
            # The spec reads Name as UTF-8; httpx would encode a str header as ASCII only.
            headers["Name"] = part.name.encode("utf-8")
            headers["Content-Type"] = part.content_type
            # An explicit length keeps httpx from sending the streamed body chunked.
            headers["Content-Length"] = str(part.size)
            kwargs["content"] = self._achunks() if is_async else self._chunks()
        else:
            kwargs["files"] = [("file", (p.name, p.file, p.content_type)) for p in self.parts]

    def close(self) -> None:
        for part in self.parts:
            if part.owned:
                part.file.close()


# -- calls -------------------------------------------------------------------------------------

_NO_JSON = object()


@dataclass
class Call(Generic[T]):
    """One ``/v1`` request and how to read its 2xx answer; ``token=False`` sends no Authorization."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, str] = field(default_factory=dict)
    json: Any = _NO_JSON
    payload: Payload | None = None
    token: bool = True

    def build(self, http: httpx.Client | httpx.AsyncClient, token: str | None, *, is_async: bool) -> httpx.Request:
        headers: dict[str, str | bytes] = {}
        kwargs: dict[str, Any] = {}
        if self.token and token is not None:
            headers["Authorization"] = token  # no scheme, as in the seed
        if self.payload is not None:
            self.payload.apply(headers, kwargs, is_async)
        if self.json is not _NO_JSON:
            kwargs["json"] = self.json
        raw = [
            (key.encode("ascii"), value if isinstance(value, bytes) else value.encode("utf-8"))
            for key, value in headers.items()
        ]
        return http.build_request(self.method, self.path, params=self.params or None, headers=raw, **kwargs)

    def close(self) -> None:
        if self.payload is not None:
            self.payload.close()


def finish(call: Call[T], response: httpx.Response) -> T:
    """Raise ``ManagementError`` for a non-2xx answer, else parse it (a malformed body too raises)."""
    if not response.is_success:
        raise error_from(response)
    try:
        return call.parse(response)
    except (ValueError, KeyError, TypeError) as exc:
        raise unexpected(response, str(exc)) from None


class TokenState:
    """The client's token, and the credentials to renew it (lazily, and once after a 401)."""

    def __init__(
        self,
        token: str | None,
        username: str | None,
        password: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self.token = token
        self.expiry_ms: int | None = None
        self.username = username
        self.password = password
        self.clock = clock
        self.lock = threading.Lock()  # the sync client's; the async client does not need one

    @property
    def renewable(self) -> bool:
        return self.username is not None and self.password is not None

    def needs_authorize(self) -> bool:
        """No token yet, or one about to expire, and credentials to get another."""
        if not self.renewable:
            return False
        if self.token is None:
            return True
        return self.expiry_ms is not None and self.clock() * 1000 >= self.expiry_ms - RENEW_MARGIN_MS

    def should_retry(self, call: Call[Any], response: httpx.Response, fresh: bool) -> bool:
        """A 401 for a token this call did not just get, and credentials to replace it."""
        return call.token and response.status_code == 401 and self.renewable and not fresh

    def authorize_call(self, username: str | None, password: str | None) -> Call[Token]:
        user = self.username if username is None else username
        secret = self.password if password is None else password
        if user is None or secret is None:
            raise ValueError("no credentials: pass username and password")
        return Call("POST", "/v1/authorize", parse_token, json={"username": user, "password": secret}, token=False)

    def store(self, token: Token, username: str | None, password: str | None) -> None:
        if username is not None and password is not None:
            self.username, self.password = username, password
        self.token, self.expiry_ms = token.token, token.expiry_ms


#: The httpx client of a management client.
Http = TypeVar("Http", httpx.Client, httpx.AsyncClient)


class ClientBase(Generic[Http]):
    """What the sync and async clients hold alike: the token state and the server's httpx client
    (which the client makes once the arguments are checked here)."""

    _http: Http

    def __init__(self, token: str | None, username: str | None, password: str | None) -> None:
        self._state = TokenState(token, username, password)

    @property
    def url(self) -> str:
        return str(self._http.base_url)

    @property
    def token(self) -> str | None:
        """The token in use (``None`` before the first authorize)."""
        return self._state.token


def expose(method: Callable[..., Any], endpoint: Callable[..., Any], owner: str, returns: str | None = None) -> None:
    """Make a client's generated ``method(self, *args, **kwargs)`` look written out by hand: the
    endpoint's name and docstring, and its signature with ``self`` first (for ``help``, ``inspect``
    and IDEs; type checkers already see it through the ``ParamSpec``). ``returns`` is the result's
    annotation; by default the ``T`` of the endpoint's ``Call[T]``."""
    signature = inspect.signature(endpoint)
    if returns is None:
        annotation = str(signature.return_annotation)
        if not (annotation.startswith("Call[") and annotation.endswith("]")):
            raise TypeError(f"{endpoint.__name__} does not return a Call[...]")
        returns = annotation[len("Call[") : -1]
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    method.__name__ = endpoint.__name__
    method.__qualname__ = f"{owner}.{endpoint.__name__}"
    method.__doc__ = endpoint.__doc__
    method.__dict__["__signature__"] = signature.replace(
        parameters=[self_param, *signature.parameters.values()], return_annotation=returns
    )


# -- parsing -----------------------------------------------------------------------------------


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ValueError("the body is not JSON") from None


def parse_token(response: httpx.Response) -> Token:
    return Token.from_json(_json(response))


def parse_message_text(response: httpx.Response) -> str:
    """The ``message`` of a Generic Response."""
    body = _json(response)
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        raise ValueError("not a Generic Response")
    return str(body["message"])


def parse_deleted(response: httpx.Response) -> int:
    return parse_deleted_count(parse_message_text(response))


def parse_as2_message(response: httpx.Response) -> As2Message:
    return As2Message.from_json(_json(response))


def parse_page(response: httpx.Response) -> Page:
    return Page.from_json(_json(response))


def parse_partner(response: httpx.Response) -> Partner:
    return Partner.from_json(_json(response))


def parse_partners(response: httpx.Response) -> list[Partner]:
    body = _json(response)
    if not isinstance(body, list):
        raise ValueError("not a JSON array")
    return [Partner.from_json(item) for item in body]


def parse_stations(response: httpx.Response) -> list[Station]:
    body = _json(response)
    if not isinstance(body, list):
        raise ValueError("not a JSON array")
    return [Station.from_json(item) for item in body]


def parse_object(response: httpx.Response) -> dict[str, Any]:
    body = _json(response)
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


def parse_bytes(response: httpx.Response) -> bytes:
    return response.content


def parse_send(response: httpx.Response) -> SendResult:
    link = response.headers.get("link")
    if not link:
        raise ValueError("no Link header")
    message_id, url = parse_link(link)
    try:
        message = parse_message_text(response)
    except ValueError:
        message = ""
    return SendResult(message_id, url, message, response.headers.get(h.REQUEST_ID))


def parse_batch(response: httpx.Response) -> BatchResult:
    index = parse_truncation_index(response.headers.get("x-batch-truncation-index"))
    partial = response.status_code == 206
    return BatchResult(response.content, partial, index, response.headers.get(h.REQUEST_ID))


# -- the endpoints ------------------------------------------------------------------------------
#
# One function per public method of both clients, named as the method: its signature and
# docstring are the method's (see ``expose``), and it returns what the client runs: a ``Call``,
# ``Pages`` (``iter_messages``) or a ``DownloadCall``. Arguments are checked here, before any
# request. The list and partner endpoints pass their ``locals()`` (the arguments, by name) on.

_LIST_PARAMS = {
    "sort_col": "sortCol",
    "sort_dir": "sortDir",
    "partner_type": "partnerType",
    "page_offset": "pageOffset",
    "page_length": "pageLength",
    "partner": "partnerAS2Id",
    "station": "stationAS2Id",
    "message_id": "as2MessageId",
    "subject": "subject",
    "unread_only": "unreadOnly",
    "query": "query",
}
_PARTNER_FIELDS = {
    "name": "name",
    "description": "description",
    "uri": "uri",
    "message_subject": "messageSubject",
    "pause_incoming": "pauseIncoming",
    "pause_outgoing": "pauseOutgoing",
    "send_timeout": "sendTimeout",
    "request_mdn": "requestMdn",
}


def list_call(view: str, args: Mapping[str, Any]) -> Call[Page]:
    """``GET /v1/message/{view}`` with a list method's arguments (``None`` ones left out)."""
    _choice(view, _VIEWS, "view")
    params = {query: _query_value(args[name]) for name, query in _LIST_PARAMS.items() if args.get(name) is not None}
    return Call("GET", f"/v1/message/{view}", parse_page, params)


def _mark_as_read(view: str, mark_as_read: bool, views: Sequence[str] = _VIEWS) -> dict[str, str]:
    """The ``markAsRead`` query of a call on one of ``views`` (``received`` only takes it)."""
    _choice(view, views, "view")
    if mark_as_read and view != "received":
        raise ValueError("mark_as_read applies to received messages only")
    return {"markAsRead": "true"} if mark_as_read else {}


def _get_call(view: str, message_id: str, mark_as_read: bool = False) -> Call[As2Message]:
    params = _mark_as_read(view, mark_as_read)
    return Call("GET", f"/v1/message/{view}/{id_segment(message_id)}", parse_as2_message, params)


def _attachment_path(view: str, message_id: str, index: int | Literal["all"], *, zip_ok: bool = False) -> str:
    if not (zip_ok and index == "all") and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        allowed = "an integer >= 0 or 'all'" if zip_ok else "an integer >= 0"
        raise ValueError(f"index must be {allowed}, not {index!r}")
    return f"/v1/message/{view}/{id_segment(message_id)}/attachments/{index}"


def _ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str):
        raise TypeError("ids must be a list of message ids, not one string")
    return list(ids)


def _search(query: str | None) -> dict[str, str]:
    return {"query": query} if query is not None else {}


def _partner_path(partner_id: int) -> str:
    if isinstance(partner_id, bool) or not isinstance(partner_id, int):
        raise ValueError(f"partner id must be an integer, not {partner_id!r}")
    return f"/v1/partner/{partner_id}"


def partner_body(args: Mapping[str, Any]) -> dict[str, Any]:
    """The Partner document of a partner method's arguments: the fields given (not ``UNSET``), in
    camelCase, over ``extra``; absent ones are left out (defaults, or unchanged)."""
    body: dict[str, Any] = dict(args.get("extra") or {})
    partner_type = args.get("partner_type", UNSET)
    if partner_type is not UNSET:
        canonical = _PARTNER_TYPES.get(str(partner_type).lower())
        if canonical is None:
            raise ValueError(f"partner_type must be production or test, not {partner_type!r}")
        body["partnerType"] = canonical
    custom_headers = args.get("custom_headers", UNSET)
    if custom_headers is not UNSET:
        pairs = custom_headers.items() if isinstance(custom_headers, Mapping) else (custom_headers or [])
        body["customHeaders"] = [{"headerKey": key, "headerValue": value} for key, value in pairs]
    for name, key in _PARTNER_FIELDS.items():
        if args.get(name, UNSET) is not UNSET:
            body[key] = args[name]
    return body


def send(
    station: str,
    partner: str,
    files: SendFiles,
    *,
    partner_type: PartnerType = "production",
    subject: str | None = None,
) -> Call[SendResult]:
    """Send files from your ``station`` to its ``partner`` (a partner record of that type).

    ``files``: a path; ``(name, data)``; or a list of ``(name, data)`` / ``(name, data,
    content_type)`` where data is bytes, a path or a binary file object (sent from its
    start). One file goes as a raw body with a ``Name`` header, several as multipart parts.
    ``subject`` defaults to the partner's message subject. Returns the new message's id
    (parsed from the ``Link`` header) and the link URL.
    """
    path = f"/v1/message/{route_segment(station, 'station')}/{route_segment(partner, 'partner')}"
    params: dict[str, str] = {"partnerType": partner_type}
    if subject is not None:
        params["subject"] = subject
    return Call("POST", path, parse_send, params, payload=Payload(files))


def received(
    *,
    sort_col: SortCol | None = None,
    sort_dir: SortDir | None = None,
    partner_type: PartnerType | None = None,
    page_offset: int | None = None,
    page_length: int | None = None,
    partner: str | None = None,
    station: str | None = None,
    message_id: str | None = None,
    subject: str | None = None,
    unread_only: bool | None = None,
) -> Call[Page]:
    """``GET /v1/message/received``: one page of the messages your stations received.

    ``page_offset`` is a page number (skips ``page_offset * page_length`` records);
    ``partner`` is the sender, ``station`` one of yours; ``subject`` matches a substring;
    ``unread_only`` leaves out what you marked read. Omitted arguments use the server's
    defaults (newest first, 10 per page, Production).
    """
    return list_call("received", locals())


def sent(
    *,
    sort_col: SortCol | None = None,
    sort_dir: SortDir | None = None,
    partner_type: PartnerType | None = None,
    page_offset: int | None = None,
    page_length: int | None = None,
    partner: str | None = None,
    station: str | None = None,
    message_id: str | None = None,
    subject: str | None = None,
) -> Call[Page]:
    """``GET /v1/message/sent``: delivered messages of your stations (``partner``: the receiver)."""
    return list_call("sent", locals())


def failed(
    *,
    sort_col: SortCol | None = None,
    sort_dir: SortDir | None = None,
    partner_type: PartnerType | None = None,
    page_offset: int | None = None,
    page_length: int | None = None,
    partner: str | None = None,
    station: str | None = None,
    message_id: str | None = None,
    subject: str | None = None,
) -> Call[Page]:
    """``GET /v1/message/failed``: one entry per failed delivery attempt (an id may repeat)."""
    return list_call("failed", locals())


def queued(
    *,
    sort_col: SortCol | None = None,
    sort_dir: SortDir | None = None,
    partner_type: PartnerType | None = None,
    page_offset: int | None = None,
    page_length: int | None = None,
    query: str | None = None,
) -> Call[Page]:
    """``GET /v1/message/queued``: undelivered messages, ``queued`` and ``stopped`` (see ``state``).

    ``query`` matches a route on either side or an id exactly, or a subject substring.
    """
    return list_call("queued", locals())


def iter_messages(
    view: View,
    *,
    page_length: int = MAX_PAGE_LENGTH,
    sort_col: SortCol | None = None,
    sort_dir: SortDir | None = None,
    partner_type: PartnerType | None = None,
    partner: str | None = None,
    station: str | None = None,
    message_id: str | None = None,
    subject: str | None = None,
    unread_only: bool | None = None,
    query: str | None = None,
) -> Pages:
    """Every message of a list (``received``, ``sent``, ``failed``, ``queued``), page by page.

    Filters as for the list methods (``query`` for ``queued`` only, ``unread_only`` for
    ``received`` only). Pages are fetched as the iteration goes, so messages that arrive,
    or are marked read or deleted meanwhile, can shift records between pages.
    """
    return Pages(view, locals())


def get_received(message_id: str, mark_as_read: bool = False) -> Call[As2Message]:
    """One received message; ``mark_as_read`` marks it read for you (the answer shows it)."""
    return _get_call("received", message_id, mark_as_read)


def get_sent(message_id: str) -> Call[As2Message]:
    """One sent message."""
    return _get_call("sent", message_id)


def get_failed(message_id: str) -> Call[As2Message]:
    """The latest failure entry of a message."""
    return _get_call("failed", message_id)


def get_queued(message_id: str) -> Call[As2Message]:
    """One queued or stopped message."""
    return _get_call("queued", message_id)


def mark_unread(message_id: str) -> Call[str]:
    """Mark a received message unread again (idempotent); returns the server's message."""
    return Call("POST", f"/v1/message/received/{id_segment(message_id)}/markUnread", parse_message_text)


def attachment(view: FileView, message_id: str, index: int = 0, mark_as_read: bool = False) -> Call[bytes]:
    """The bytes of attachment ``index`` (0-based) of a ``received`` or ``sent`` message.

    For the receiver, the first download of a message records its receipt, if requested.
    """
    params = _mark_as_read(view, mark_as_read, _FILE_VIEWS)
    return Call("GET", _attachment_path(view, message_id, index), parse_bytes, params)


def download_attachment(
    view: FileView,
    message_id: str,
    index: int | Literal["all"],
    dest: DownloadDest,
    *,
    mark_as_read: bool = False,
) -> DownloadCall:
    """Stream attachment ``index`` (or ``"all"``: the zip) to ``dest``, a path or a binary file.

    A path is written through a temporary file beside it and replaced only once the transfer
    is complete. Returns the server's file name, the size and SHA-256 of the bytes written.
    """
    params = _mark_as_read(view, mark_as_read, _FILE_VIEWS)
    path = _attachment_path(view, message_id, index, zip_ok=True)
    return DownloadCall(Call("GET", path, lambda response: None, params), dest)


def attachments_zip(view: FileView, message_id: str, mark_as_read: bool = False) -> Call[bytes]:
    """All attachments of a message as one zip (``/attachments/all``), entries in index order."""
    params = _mark_as_read(view, mark_as_read, _FILE_VIEWS)
    return Call("GET", _attachment_path(view, message_id, "all", zip_ok=True), parse_bytes, params)


def batch_download(ids: Sequence[str], mark_as_read: bool = False) -> Call[BatchResult]:
    """The attachments of up to 100 received messages as one zip, a folder ``<id>/`` each.

    An id that cannot be served gets ``<id>/.error``. Past the server's 10 MiB cap the zip
    is cut short: ``partial`` is true and ``truncation_index`` says where it stopped.
    """
    params = {"markAsRead": "true"} if mark_as_read else {}
    return Call("POST", "/v1/message/received/batch/attachments", parse_batch, params, json=_ids(ids))


def receipt(view: FileView, message_id: str) -> Call[dict[str, Any]]:
    """The signed receipt document (``/mdn``); 404 while there is none. Check it with
    :func:`verify_receipt` and :meth:`receipt_key`."""
    _choice(view, _FILE_VIEWS, "view")
    return Call("GET", f"/v1/message/{view}/{id_segment(message_id)}/mdn", parse_object)


def receipt_key() -> Call[dict[str, Any]]:
    """The server's receipt public key document (no token needed)."""
    return Call("GET", "/v1/receipt-key", parse_object, token=False)


def stop(message_id: str) -> Call[str]:
    """Stop retrying a queued message (state ``stopped``; idempotent)."""
    return Call("POST", f"/v1/message/queued/{id_segment(message_id)}/stop", parse_message_text)


def retry(message_id: str) -> Call[str]:
    """Resume a stopped message (state ``queued``; idempotent)."""
    return Call("POST", f"/v1/message/queued/{id_segment(message_id)}/retry", parse_message_text)


def delete(message_type: DeleteType, message_id: str) -> Call[str]:
    """Delete one message of a category (``received``, ``sent``, ``queued``, ``stopped``, ``failed``)."""
    _choice(message_type, _DELETE_TYPES, "message_type")
    return Call("DELETE", f"/v1/message/{message_type}/{id_segment(message_id)}", parse_message_text)


def delete_many(message_type: DeleteType, ids: Sequence[str]) -> Call[int]:
    """Delete up to 100 messages of a category; unknown ids are skipped. Returns how many went."""
    _choice(message_type, _DELETE_TYPES, "message_type")
    return Call("DELETE", f"/v1/message/{message_type}", parse_deleted, json=_ids(ids))


def partners(query: str | None = None) -> Call[list[Partner]]:
    """The partners of all your stations; ``query`` matches name or route (substring)."""
    return Call("GET", "/v1/partner", parse_partners, _search(query))


def partner(partner_id: int) -> Call[Partner]:
    """One partner by id."""
    return Call("GET", _partner_path(partner_id), parse_partner)


def create_partner(
    station: str,
    partner_route: str,
    *,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    uri: str | None | Unset = UNSET,
    message_subject: str | None | Unset = UNSET,
    custom_headers: Mapping[str, str] | Sequence[tuple[str, str]] | None | Unset = UNSET,
    pause_incoming: bool | Unset = UNSET,
    pause_outgoing: bool | Unset = UNSET,
    send_timeout: int | Unset = UNSET,
    partner_type: PartnerType | Unset = UNSET,
    request_mdn: bool | Unset = UNSET,
    extra: Mapping[str, Any] | None = None,
) -> Call[Partner]:
    """Add ``partner_route`` as a partner of your ``station``; fields left out take the defaults.

    Without ``uri`` the partner must be a route of this server (local). ``extra`` adds raw
    camelCase fields to the document. 409 if (station, route, type) exists.
    """
    document = {**partner_body(locals()), "stationAS2Id": station, "as2Identifier": partner_route}
    return Call("POST", "/v1/partner", parse_partner, json=document)


def update_partner(
    partner_id: int,
    *,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    uri: str | None | Unset = UNSET,
    message_subject: str | None | Unset = UNSET,
    custom_headers: Mapping[str, str] | Sequence[tuple[str, str]] | None | Unset = UNSET,
    pause_incoming: bool | Unset = UNSET,
    pause_outgoing: bool | Unset = UNSET,
    send_timeout: int | Unset = UNSET,
    partner_type: PartnerType | Unset = UNSET,
    request_mdn: bool | Unset = UNSET,
    extra: Mapping[str, Any] | None = None,
) -> Call[Partner]:
    """Change the given fields of a partner; the others stay (``uri=None`` clears the URI).

    Clearing ``pause_outgoing`` delivers its queued local messages within the call.
    """
    return Call("PUT", _partner_path(partner_id), parse_partner, json=partner_body(locals()))


def delete_partner(partner_id: int) -> Call[str]:
    """Delete a partner; its queued messages become ``stopped``."""
    return Call("DELETE", _partner_path(partner_id), parse_message_text)


def stations(query: str | None = None) -> Call[list[Station]]:
    """Your stations; ``query`` matches name or route (substring)."""
    return Call("GET", "/v1/station", parse_stations, _search(query))


# -- pages and downloads -----------------------------------------------------------------------


class Pages:
    """``iter_messages``' walk through a list: the call of each page in turn, from page 0 until
    one comes back empty or is the last one."""

    def __init__(self, view: str, args: Mapping[str, Any]) -> None:
        self._view = view
        self._args = dict(args)
        self._length: int = args["page_length"]
        self._offset: int | None = 0

    def next_call(self) -> Call[Page] | None:
        """The call of the next page, or ``None`` when the walk is over."""
        if self._offset is None:
            return None
        return list_call(self._view, {**self._args, "page_offset": self._offset})

    def take(self, page: Page) -> list[As2Message]:
        """The records of the page just fetched; decides whether another page follows."""
        assert self._offset is not None
        last = not page.records or (self._offset + 1) * self._length >= page.total_records
        self._offset = None if last else self._offset + 1
        return page.records


class DownloadSink:
    """Receives a streamed download: hashes it, writes it to a file object, or to a path through a
    temporary file beside it that is renamed only once the transfer is complete. As a context
    manager it aborts (removes the temporary file) when the transfer fails."""

    def __init__(self, dest: DownloadDest) -> None:
        self._dest = dest
        self._digest = hashlib.sha256()
        self._size = 0
        self._tmp: IO[bytes] | None = None
        self._tmp_path: Path | None = None
        self._final: Path | None = None
        if isinstance(dest, str | os.PathLike):
            self._final = Path(os.fspath(dest))
            self._tmp, self._tmp_path = open_temp(self._final.parent)

    def __enter__(self) -> DownloadSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None:
            self.abort()

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._size += len(chunk)
        if self._tmp is not None:
            self._tmp.write(chunk)
        elif not isinstance(self._dest, str | os.PathLike):
            self._dest.write(chunk)

    def finish(self, response: httpx.Response) -> Download:
        path = None
        if self._tmp is not None and self._tmp_path is not None and self._final is not None:
            self._tmp.flush()
            os.fsync(self._tmp.fileno())
            self._tmp.close()
            self._tmp = None
            os.replace(self._tmp_path, self._final)
            self._tmp_path = None
            path = self._final
        name = decode_file_name(response.headers)
        return Download(name, self._size, self._digest.hexdigest(), path, response.headers.get(h.REQUEST_ID))

    def abort(self) -> None:
        if self._tmp is not None:
            self._tmp.close()
            self._tmp = None
        if self._tmp_path is not None:
            self._tmp_path.unlink(missing_ok=True)
            self._tmp_path = None


@dataclass
class DownloadCall:
    """``download_attachment``: a ``GET`` whose 2xx body is streamed into ``dest``."""

    call: Call[None]
    dest: DownloadDest
