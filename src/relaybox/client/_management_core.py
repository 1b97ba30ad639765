"""What the sync and async management clients share: every ``/v1`` request as a ``Call`` (built
here, sent by the client), uploads, downloads, the token and the parsing of every answer.

A client method is one line: build the ``Call`` here, run it. Both clients run calls the same way
(lazy authorize, one retry after a 401 of a renewable token), so the two cannot drift apart.
"""

from __future__ import annotations

import enum
import hashlib
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
    if not 200 <= response.status_code < 300:
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


# -- the calls, one builder per endpoint -------------------------------------------------------


def send_call(station: str, partner: str, files: SendFiles, partner_type: str, subject: str | None) -> Call[SendResult]:
    path = f"/v1/message/{route_segment(station, 'station')}/{route_segment(partner, 'partner')}"
    params = {"partnerType": partner_type}
    if subject is not None:
        params["subject"] = subject
    return Call("POST", path, parse_send, params, payload=Payload(files))


def list_call(
    view: str,
    *,
    sort_col: str | None = None,
    sort_dir: str | None = None,
    partner_type: str | None = None,
    page_offset: int | None = None,
    page_length: int | None = None,
    partner: str | None = None,
    station: str | None = None,
    message_id: str | None = None,
    subject: str | None = None,
    unread_only: bool | None = None,
    query: str | None = None,
) -> Call[Page]:
    _choice(view, _VIEWS, "view")
    values: dict[str, str | int | bool | None] = {
        "sortCol": sort_col,
        "sortDir": sort_dir,
        "partnerType": partner_type,
        "pageOffset": page_offset,
        "pageLength": page_length,
        "partnerAS2Id": partner,
        "stationAS2Id": station,
        "as2MessageId": message_id,
        "subject": subject,
        "unreadOnly": unread_only,
        "query": query,
    }
    params = {key: _query_value(value) for key, value in values.items() if value is not None}
    return Call("GET", f"/v1/message/{view}", parse_page, params)


def get_call(view: str, message_id: str, mark_as_read: bool = False) -> Call[As2Message]:
    _choice(view, _VIEWS, "view")
    if mark_as_read and view != "received":
        raise ValueError("mark_as_read applies to received messages only")
    params = {"markAsRead": "true"} if mark_as_read else {}
    return Call("GET", f"/v1/message/{view}/{id_segment(message_id)}", parse_as2_message, params)


def mark_unread_call(message_id: str) -> Call[str]:
    return Call("POST", f"/v1/message/received/{id_segment(message_id)}/markUnread", parse_message_text)


def _file_params(view: str, mark_as_read: bool) -> dict[str, str]:
    _choice(view, _FILE_VIEWS, "view")
    if mark_as_read and view != "received":
        raise ValueError("mark_as_read applies to received messages only")
    return {"markAsRead": "true"} if mark_as_read else {}


def attachment_call(view: str, message_id: str, index: int = 0, mark_as_read: bool = False) -> Call[bytes]:
    params = _file_params(view, mark_as_read)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index must be an integer >= 0, not {index!r}")
    return Call("GET", f"/v1/message/{view}/{id_segment(message_id)}/attachments/{index}", parse_bytes, params)


def attachments_zip_call(view: str, message_id: str, mark_as_read: bool = False) -> Call[bytes]:
    params = _file_params(view, mark_as_read)
    return Call("GET", f"/v1/message/{view}/{id_segment(message_id)}/attachments/all", parse_bytes, params)


def batch_call(ids: Sequence[str], mark_as_read: bool) -> Call[BatchResult]:
    if isinstance(ids, str):
        raise TypeError("ids must be a list of message ids, not one string")
    params = {"markAsRead": "true"} if mark_as_read else {}
    return Call("POST", "/v1/message/received/batch/attachments", parse_batch, params, json=list(ids))


def receipt_call(view: str, message_id: str) -> Call[dict[str, Any]]:
    _choice(view, _FILE_VIEWS, "view")
    return Call("GET", f"/v1/message/{view}/{id_segment(message_id)}/mdn", parse_object)


def receipt_key_call() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/receipt-key", parse_object, token=False)


def retry_control_call(action: Literal["stop", "retry"], message_id: str) -> Call[str]:
    return Call("POST", f"/v1/message/queued/{id_segment(message_id)}/{action}", parse_message_text)


def delete_call(message_type: str, message_id: str) -> Call[str]:
    _choice(message_type, _DELETE_TYPES, "message_type")
    return Call("DELETE", f"/v1/message/{message_type}/{id_segment(message_id)}", parse_message_text)


def delete_many_call(message_type: str, ids: Sequence[str]) -> Call[int]:
    _choice(message_type, _DELETE_TYPES, "message_type")
    if isinstance(ids, str):
        raise TypeError("ids must be a list of message ids, not one string")
    return Call("DELETE", f"/v1/message/{message_type}", parse_deleted, json=list(ids))


def _search(query: str | None) -> dict[str, str]:
    return {"query": query} if query is not None else {}


def partners_call(query: str | None) -> Call[list[Partner]]:
    return Call("GET", "/v1/partner", parse_partners, _search(query))


def _partner_id(partner_id: int) -> str:
    if isinstance(partner_id, bool) or not isinstance(partner_id, int):
        raise ValueError(f"partner id must be an integer, not {partner_id!r}")
    return str(partner_id)


def partner_call(partner_id: int) -> Call[Partner]:
    return Call("GET", f"/v1/partner/{_partner_id(partner_id)}", parse_partner)


def partner_body(
    *,
    name: str | Unset,
    description: str | Unset,
    uri: str | None | Unset,
    message_subject: str | None | Unset,
    custom_headers: Mapping[str, str] | Sequence[tuple[str, str]] | None | Unset,
    pause_incoming: bool | Unset,
    pause_outgoing: bool | Unset,
    send_timeout: int | Unset,
    partner_type: str | Unset,
    request_mdn: bool | Unset,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A Partner document of the fields given (absent ones are left out: defaults, or unchanged)."""
    body: dict[str, Any] = dict(extra or {})
    if not isinstance(partner_type, Unset):
        canonical = _PARTNER_TYPES.get(partner_type.lower())
        if canonical is None:
            raise ValueError(f"partner_type must be production or test, not {partner_type!r}")
        body["partnerType"] = canonical
    if not isinstance(custom_headers, Unset):
        pairs = custom_headers.items() if isinstance(custom_headers, Mapping) else (custom_headers or [])
        body["customHeaders"] = [{"headerKey": key, "headerValue": value} for key, value in pairs]
    fields = {
        "name": name,
        "description": description,
        "uri": uri,
        "messageSubject": message_subject,
        "pauseIncoming": pause_incoming,
        "pauseOutgoing": pause_outgoing,
        "sendTimeout": send_timeout,
        "requestMdn": request_mdn,
    }
    body.update({key: value for key, value in fields.items() if not isinstance(value, Unset)})
    return body


def create_partner_call(station: str, partner_route: str, body: dict[str, Any]) -> Call[Partner]:
    document = {**body, "stationAS2Id": station, "as2Identifier": partner_route}
    return Call("POST", "/v1/partner", parse_partner, json=document)


def update_partner_call(partner_id: int, body: dict[str, Any]) -> Call[Partner]:
    return Call("PUT", f"/v1/partner/{_partner_id(partner_id)}", parse_partner, json=body)


def delete_partner_call(partner_id: int) -> Call[str]:
    return Call("DELETE", f"/v1/partner/{_partner_id(partner_id)}", parse_message_text)


def stations_call(query: str | None) -> Call[list[Station]]:
    return Call("GET", "/v1/station", parse_stations, _search(query))


def next_page(page: Page, offset: int, length: int) -> int | None:
    """The page number after ``offset``, or ``None`` when ``page`` was the last one."""
    if not page.records or (offset + 1) * length >= page.total_records:
        return None
    return offset + 1


# -- downloads ---------------------------------------------------------------------------------


class DownloadSink:
    """Receives a streamed download: hashes it, writes it to a file object, or to a path through a
    temporary file beside it that is renamed only once the transfer is complete."""

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


def download_call(view: str, message_id: str, index: int | Literal["all"], mark_as_read: bool) -> Call[None]:
    params = _file_params(view, mark_as_read)
    if index != "all" and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise ValueError(f"index must be an integer >= 0 or 'all', not {index!r}")
    path = f"/v1/message/{view}/{id_segment(message_id)}/attachments/{index}"
    return Call("GET", path, lambda response: None, params)
