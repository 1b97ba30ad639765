"""The parts of the SDK that do not depend on sync or async I/O: signing, uploads, downloads."""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import httpx

from relaybox.auth.signing import receive_key, send_key, signature_header
from relaybox.client._models import ChecksumMismatch, Message, api_error, parse_message, parse_uint
from relaybox.wire import headers as h
from relaybox.wire.ids import is_link
from relaybox.wire.timestamps import format_timestamp

#: ``progress(bytes_done, bytes_total_or_None)``, called as a transfer advances.
Progress = Callable[[int, int | None], None]
#: Bytes, a path, or a binary file object opened for reading.
SendData = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]
#: A path (written atomically through a temporary file beside it) or a binary file object.
Dest = str | os.PathLike[str] | IO[bytes]

DEFAULT_TIMEOUT = 30.0
# The server holds wait-next-message for at most 300 s; the read timeout must outlast that.
MAX_SERVER_WAIT = 300
WAIT_MARGIN = 30.0
CHUNK = 64 * 1024
_LIST_RE = re.compile(r"list:[0-9]{1,18}")
_MESSAGE_ID_RE = re.compile(r"[\x20-\x7e]{1,128}")
_STAMP_LOCK = threading.Lock()
_LAST_STAMP: dict[str, tuple[float, str]] = {}  # route -> last request-timestamp handed out
#: A request extension carrying the lowercase hex MD5 of a streamed body, for request-signature.
BODY_MD5 = "relaybox.body_md5"


class RouteAuth(httpx.Auth):
    """Adds ``request-timestamp``, ``request-from`` and ``request-key`` to every request.

    send-message gets the send key (it covers message-to, message-id and message-md5, read
    from the request's own headers); every other call gets the receive key. Timestamps carry
    microseconds and never repeat for one route within this process, across clients and
    threads: the server refuses a reused key (code 103) and receive keys do not cover the path.

    With ``signature=True`` (the default) it also adds ``request-signature: v2=<hex>``, which
    covers method, path and query, timestamp and the body's MD5: taken from the ``BODY_MD5``
    request extension for a streamed body (the SDK's uploads set it), else from the body in
    memory. A streamed body of unknown MD5 is sent without it.
    """

    def __init__(
        self, route: str, secret: str, clock: Callable[[], float] = time.time, *, signature: bool = True
    ) -> None:
        self.route = route
        self.signature = signature
        self._secret = secret
        self._clock = clock

    def timestamp(self) -> str:
        with _STAMP_LOCK:
            now = self._clock()
            last, last_stamp = _LAST_STAMP.get(self.route, (0.0, ""))
            # Two calls in one microsecond (or a clock stepped back a little) continue just after
            # the last stamp. A clock stepped back further is followed: stamps running ahead of it
            # would soon fall outside the server's +-300 s window.
            if last - 1.0 < now <= last:
                now = last + 1e-6
            stamp = format_timestamp(now)
            while stamp == last_stamp:  # float rounding can land on the same microsecond
                now += 1e-6
                stamp = format_timestamp(now)
            _LAST_STAMP[self.route] = (now, stamp)
            return stamp

    def sign(self, request: httpx.Request) -> None:
        stamp = self.timestamp()
        if request.url.path.endswith("/send-message"):
            key = send_key(
                stamp,
                self.route,
                request.headers.get(h.MESSAGE_TO, ""),
                request.headers.get(h.MESSAGE_ID, ""),
                request.headers.get(h.MESSAGE_MD5, ""),
                self._secret,
            )
        else:
            key = receive_key(stamp, self.route, self._secret)
        request.headers[h.REQUEST_TIMESTAMP] = stamp
        request.headers[h.REQUEST_FROM] = self.route
        request.headers[h.REQUEST_KEY] = key
        if self.signature:
            body_md5 = _body_md5(request)
            if body_md5 is not None:
                request.headers[h.REQUEST_SIGNATURE] = signature_header(
                    self._secret, request.method, request.url.raw_path, stamp, body_md5
                )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request


def _body_md5(request: httpx.Request) -> str | None:
    known = request.extensions.get(BODY_MD5)
    if isinstance(known, str):
        return known
    try:
        content = request.content
    except httpx.RequestNotRead:  # streamed, MD5 unknown
        return None
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def open_temp(
    directory: str | os.PathLike[str], prefix: str = ".relaybox-", suffix: str = ".part"
) -> tuple[IO[bytes], Path]:
    """A new, exclusive temporary file in ``directory``, for renaming into place later.

    Unlike ``mkstemp`` (always 0600) the mode follows the umask, as for any file the user writes.
    """
    for _ in range(100):
        path = Path(directory, f"{prefix}{secrets.token_hex(8)}{suffix}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        return os.fdopen(fd, "w+b"), path
    raise FileExistsError(f"cannot create a temporary file in {directory}")


def check_link(link: str) -> str:
    """Links go into URL paths unquoted, so anything but a well-formed link is refused here."""
    if not is_link(link):
        raise ValueError(f"not a message link: {link!r}")
    return link


def is_recipient(to: str) -> bool:
    """A route (``local@domain``) or an address-book list (``list:<id>``)."""
    return h.is_route(to) or bool(_LIST_RE.fullmatch(to))


def is_message_id(value: str) -> bool:
    """1-128 printable ASCII characters, as the server requires of ``message-id``."""
    return bool(_MESSAGE_ID_RE.fullmatch(value))


def wait_timeout(base: httpx.Timeout, wait: int | None) -> httpx.Timeout:
    held = MAX_SERVER_WAIT if wait is None else min(max(wait, 0), MAX_SERVER_WAIT)
    return httpx.Timeout(
        connect=base.connect, read=held + max(WAIT_MARGIN, base.read or 0.0), write=base.write, pool=base.pool
    )


# httpx's escaping of a multipart file name (the HTML5 form encoding): the bytes stay as before.
_FORM_ESCAPES = {'"': "%22", "\\": "\\\\", **{chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}}
_FORM_ESCAPE_RE = re.compile("|".join(re.escape(c) for c in _FORM_ESCAPES))


def _form_param(value: str) -> bytes:
    return _FORM_ESCAPE_RE.sub(lambda m: _FORM_ESCAPES[m.group(0)], value).encode("utf-8")


@dataclass
class Upload:
    """A payload ready for streaming as ``multipart/form-data`` (one ``data`` part): positioned
    at 0, MD5 known, closed by ``close``. The SDK frames the body itself so that it knows the
    MD5 of the whole body (``body_md5``, for request-signature) before sending it."""

    file: IO[bytes]
    file_name: str
    md5: str
    size: int
    owned: bool
    boundary: str = field(default_factory=lambda: secrets.token_hex(16))
    body_md5: str | None = None

    @property
    def head(self) -> bytes:
        return (
            f"--{self.boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="data"; filename="'
            + _form_param(self.file_name)
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )

    @property
    def tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    def request_args(self, headers: dict[str, str], progress: Progress | None, *, is_async: bool) -> dict[str, Any]:
        """``headers``, ``content`` and ``extensions`` of the send request. An explicit length
        keeps httpx from sending the streamed body chunked."""
        headers = {
            **headers,
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(len(self.head) + self.size + len(self.tail)),
        }
        args: dict[str, Any] = {
            "headers": headers,
            "content": self._achunks(progress) if is_async else self._chunks(progress),
        }
        if self.body_md5 is not None:
            args["extensions"] = {BODY_MD5: self.body_md5}
        return args

    def _chunks(self, progress: Progress | None) -> Iterator[bytes]:
        yield self.head
        self.file.seek(0)
        done = 0
        while done < self.size and (chunk := self.file.read(min(CHUNK, self.size - done))):
            done += len(chunk)
            if progress is not None:
                progress(done, self.size)
            yield chunk
        yield self.tail

    async def _achunks(self, progress: Progress | None) -> AsyncIterator[bytes]:
        for chunk in self._chunks(progress):
            yield chunk

    def close(self) -> None:
        if self.owned:
            self.file.close()


def prepare_upload(data: SendData, file_name: str | None, md5: str | None, *, body_md5: bool = False) -> Upload:
    """Open the payload and hash it in a first pass, so a file is never held in memory whole.

    File objects are uploaded from their start. One that cannot seek is first spooled to a
    temporary file. With ``body_md5`` the MD5 of the whole multipart body is taken in the same
    pass (a caller-given ``md5`` then still costs that one pass).
    """
    owned = False
    if isinstance(data, bytes | bytearray | memoryview):
        file: IO[bytes] = io.BytesIO(bytes(data))
        default_name = "data"
    elif isinstance(data, str | os.PathLike):
        file = open(os.fspath(data), "rb")
        owned = True
        default_name = os.path.basename(os.fspath(data))
    else:
        file = data
        default_name = os.path.basename(str(getattr(data, "name", "") or "")) or "data"
    try:
        if not _seekable(file):
            spool = tempfile.TemporaryFile()
            while chunk := file.read(CHUNK):
                spool.write(chunk)
            if owned:
                file.close()
            file, owned = spool, True
        upload = Upload(file, file_name or default_name or "data", "", 0, owned)
        digest = hashlib.md5(usedforsecurity=False) if md5 is None else None
        body = hashlib.md5(upload.head, usedforsecurity=False) if body_md5 else None
        if digest is not None or body is not None:
            file.seek(0)
            while chunk := file.read(CHUNK):
                if digest is not None:
                    digest.update(chunk)
                if body is not None:
                    body.update(chunk)
        # A caller-given MD5 is sent as is, even a wrong one: the server is the judge (code 202).
        upload.md5 = (md5 or (digest or hashlib.md5(usedforsecurity=False)).hexdigest()).lower()
        upload.size = file.seek(0, io.SEEK_END)
        file.seek(0)
        if body is not None:
            body.update(upload.tail)
            upload.body_md5 = body.hexdigest()
    except BaseException:
        if owned:
            file.close()
        raise
    return upload


def _seekable(file: IO[bytes]) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, ValueError):
        return False


def send_headers(
    to: str, message_id: str | None, md5: str, expires_after: int | None, pay_for_reply: bool
) -> dict[str, str]:
    if not is_recipient(to):
        raise ValueError(f"message recipient must be local@domain or list:<id>, not {to!r}")
    mid = uuid.uuid4().hex if message_id is None else message_id
    if not is_message_id(mid):
        raise ValueError("message_id must be 1-128 printable ASCII characters")
    headers = {
        h.MESSAGE_TO: to,
        h.MESSAGE_ID: mid,
        h.MESSAGE_MD5: md5,
        h.MESSAGE_PRIORITY: h.PRIORITY_NORMAL,
        h.PAY_FOR_REPLY: "1" if pay_for_reply else "0",
    }
    if expires_after is not None:
        headers[h.MESSAGE_EXPIRES_AFTER] = str(int(expires_after))
    return headers


def send_result(response: httpx.Response) -> str:
    """The link of a direct send; for a ``list:`` fan-out (no link header) the JSON body."""
    if response.status_code != 200:
        raise api_error(response.status_code, response.headers, response.reason_phrase)
    link: str | None = response.headers.get(h.MESSAGE_LINK)
    return link if link else response.text


class Sink:
    """Receives a download chunk by chunk: hashes it, reports progress, writes it out.

    A path destination is written to a temporary file beside it and renamed only once the
    MD5 matches, so a failed or corrupt transfer never leaves a partial file under that name.
    """

    def __init__(self, dest: Dest | None, progress: Progress | None) -> None:
        self._dest = dest
        self._progress = progress
        self._digest = hashlib.md5()
        self._buffer = bytearray()
        self._done = 0
        self._total: int | None = None
        self._tmp: IO[bytes] | None = None
        self._tmp_path: Path | None = None
        self._final: Path | None = None

    def open(self, response: httpx.Response) -> None:
        length = response.headers.get("content-length", "")
        self._total = parse_uint(length)
        if isinstance(self._dest, str | os.PathLike):
            self._final = Path(os.fspath(self._dest))
            self._tmp, self._tmp_path = open_temp(self._final.parent)
        if self._progress is not None:
            self._progress(0, self._total)

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._done += len(chunk)
        if self._tmp is not None:
            self._tmp.write(chunk)
        elif self._dest is not None and not isinstance(self._dest, str | os.PathLike):
            self._dest.write(chunk)
        else:
            self._buffer += chunk
        if self._progress is not None:
            self._progress(self._done, self._total)

    def finish(self, response: httpx.Response, link: str) -> Message:
        message = parse_message(response.headers, size=self._done, link=link)
        actual = self._digest.hexdigest()
        if message.md5 is not None and message.md5 != actual:
            self.abort()
            raise ChecksumMismatch(message, actual)
        if self._tmp is not None and self._tmp_path is not None and self._final is not None:
            self._tmp.flush()
            os.fsync(self._tmp.fileno())
            self._tmp.close()
            os.replace(self._tmp_path, self._final)
            self._tmp = None
            return replace(message, path=self._final)
        return replace(message, data=bytes(self._buffer))

    def abort(self) -> None:
        if self._tmp is not None:
            self._tmp.close()
            self._tmp = None
        if self._tmp_path is not None:
            self._tmp_path.unlink(missing_ok=True)
            self._tmp_path = None
