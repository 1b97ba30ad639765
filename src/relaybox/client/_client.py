"""The blocking SDK client."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from types import TracebackType

import httpx

from relaybox.client._core import (
    CHUNK,
    DEFAULT_TIMEOUT,
    Dest,
    Progress,
    RouteAuth,
    SendData,
    Sink,
    check_link,
    prepare_upload,
    send_headers,
    send_result,
    wait_timeout,
)
from relaybox.client._models import Message, MessageInfo, api_error
from relaybox.wire.ids import START_LINK

_NO_NEWER = 303


class Client:
    """A route's connection to a relaybox (or Go Integrate Me) route API.

    Every call but :meth:`ping` is signed with the route's secret: the request key, and the
    ``request-signature`` v2 (method, path, query, body) unless ``request_signature=False``
    (for a server that refuses unknown headers). Failure answers raise
    :class:`relaybox.errors.ApiError` (``.code``, ``.message``, ``.request_id``,
    ``.http_status``); a download whose bytes do not match ``Message-MD5`` raises
    :class:`ChecksumMismatch`. Network failures are not wrapped: ``httpx.ConnectError``,
    ``httpx.TimeoutException`` and the rest of ``httpx.TransportError`` propagate as they are.

    Example::

        from relaybox.client import Client

        with Client("http://127.0.0.1:8080", "abcd@abcdef01", "s3cret") as rb:
            link = rb.send(b"<invoice/>", to="ef01@1234abcd", file_name="invoice.xml")
            for info in rb.list():
                print(info.link, info.file_name, info.size)
            msg = rb.get(link)            # Message: .data, .file_name, .from_route, ...
            for msg in rb.messages():     # long-polls forever, one Message at a time
                print(msg.link, len(msg.data))
    """

    def __init__(
        self,
        url: str,
        route: str,
        secret: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        request_signature: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._auth = RouteAuth(route, secret, signature=request_signature)
        self._timeout = httpx.Timeout(timeout)
        self._http = httpx.Client(base_url=url, timeout=self._timeout, transport=transport)

    @property
    def route(self) -> str:
        return self._auth.route

    @property
    def url(self) -> str:
        return str(self._http.base_url)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def send(
        self,
        data: SendData,
        to: str,
        *,
        message_id: str | None = None,
        file_name: str | None = None,
        expires_after: int | None = None,
        pay_for_reply: bool = False,
        md5: str | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Send ``data`` (bytes, a path, or a binary file object) to the route ``to``; return the link.

        A file is hashed in a first pass, then streamed; it is never read into memory whole.
        ``message_id`` defaults to a fresh uuid4 hex; re-sending the same id and bytes is
        idempotent (same link, one delivery). ``file_name`` defaults to the path's base name,
        the file object's ``name``, or ``data``. ``md5`` is sent as given (and skips the
        hashing pass unless ``request_signature`` needs the body's MD5). For
        ``to="list:<id>"`` (address-book fan-out) there is no single link and the server's
        JSON answer is returned as text. Bad arguments raise ``ValueError`` before
        anything is sent.
        """
        upload = prepare_upload(data, file_name, md5, body_md5=self._auth.signature)
        try:
            headers = send_headers(to, message_id, upload.md5, expires_after, pay_for_reply)
            args = upload.request_args(headers, progress, is_async=False)
            response = self._http.post("/1/send-message", auth=self._auth, **args)
        finally:
            upload.close()
        return send_result(response)

    def list(self) -> builtins.list[MessageInfo]:
        """The caller's unexpired messages, oldest first."""
        response = self._http.get("/1/list-messages", auth=self._auth)
        if response.status_code != 200:
            raise api_error(response.status_code, response.headers, response.reason_phrase)
        return [MessageInfo.from_json(item) for item in response.json()]

    def get(
        self, link: str, *, index: int | None = None, dest: Dest | None = None, progress: Progress | None = None
    ) -> Message:
        """One message by link (``index`` picks an attachment of a multi-file message).

        With ``dest`` (a path or a binary file object) the body is streamed there instead of
        into ``Message.data``; a path is replaced atomically, and only if the MD5 matches.
        """
        params = {"index": str(index)} if index is not None else None
        message = self._fetch(f"/1/get-message/{check_link(link)}", link, params, None, dest, progress, False)
        assert message is not None
        return message

    def get_to_file(
        self, link: str, dest: Dest, *, index: int | None = None, progress: Progress | None = None
    ) -> Message:
        """:meth:`get`, streamed in chunks to ``dest`` (path or binary file object), MD5 checked."""
        return self.get(link, index=index, dest=dest, progress=progress)

    download = get_to_file

    def get_next(
        self, link: str = START_LINK, *, dest: Dest | None = None, progress: Progress | None = None
    ) -> Message | None:
        """The oldest message that arrived after ``link`` (``"0"``: from the start), or ``None``."""
        return self._fetch(f"/1/get-next-message/{check_link(link)}", "", None, None, dest, progress, True)

    def wait(
        self,
        after: str = START_LINK,
        *,
        timeout: int | None = None,
        dest: Dest | None = None,
        progress: Progress | None = None,
    ) -> Message | None:
        """Like :meth:`get_next`, but the server holds the call until a message arrives.

        ``None`` when the server's wait limit passes first (its default is 60 s; ``timeout``
        asks for another, up to 300). The read timeout is stretched past the wait.
        """
        params = {"timeout": str(timeout)} if timeout is not None else None
        path = f"/1/wait-next-message/{check_link(after)}"
        return self._fetch(path, "", params, wait_timeout(self._timeout, timeout), dest, progress, False)

    def messages(self, after: str = START_LINK, *, timeout: int | None = None) -> Iterator[Message]:
        """Every message after ``after``, forever: long-polls, yields each, advances the cursor."""
        cursor = after
        while True:
            message = self.wait(cursor, timeout=timeout)
            if message is not None:
                cursor = message.link
                yield message

    def ping(self) -> str:
        """Unsigned liveness check: the server's answer (``"ok"``); ``ApiError`` (503) if its store is down."""
        response = self._http.get("/1/ping", auth=None)
        if response.status_code != 200:
            raise api_error(response.status_code, response.headers, response.reason_phrase)
        return response.text.strip()

    def _fetch(
        self,
        path: str,
        link: str,
        params: dict[str, str] | None,
        timeout: httpx.Timeout | None,
        dest: Dest | None,
        progress: Progress | None,
        none_on_no_newer: bool,
    ) -> Message | None:
        request_timeout = timeout if timeout is not None else self._timeout
        with self._http.stream("GET", path, params=params, auth=self._auth, timeout=request_timeout) as response:
            if response.status_code == 204:
                return None
            if response.status_code != 200:
                error = api_error(response.status_code, response.headers, response.reason_phrase)
                if none_on_no_newer and error.code == _NO_NEWER:
                    return None
                raise error
            sink = Sink(dest, progress)
            sink.open(response)
            try:
                for chunk in response.iter_bytes(CHUNK):
                    sink.write(chunk)
            except BaseException:
                sink.abort()
                raise
            return sink.finish(response, link)
