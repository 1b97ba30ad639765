"""The blocking client of relaybox's management API (``/v1``, ``management-api.md``).

Example::

    from relaybox.client import ManagementClient, ManagementError

    with ManagementClient("http://127.0.0.1:8080", username="me@example.com", password="...") as mc:
        sent = mc.send("alpha@bars01", "bravo@bars02", [("a.txt", b"one"), ("b.txt", b"two")])
        for msg in mc.iter_messages("received", unread_only=True):
            data = mc.attachment("received", msg.as2_message_id, 0, mark_as_read=True)
        try:
            mc.get_sent("no-such-id")
        except ManagementError as exc:
            print(exc.status, exc.message, exc.request_id)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from relaybox.client._core import CHUNK
from relaybox.client._management_core import (
    DEFAULT_TIMEOUT,
    MAX_PAGE_LENGTH,
    UNSET,
    Call,
    DeleteType,
    DownloadDest,
    DownloadSink,
    FileView,
    PartnerType,
    SendFiles,
    SortCol,
    SortDir,
    TokenState,
    Unset,
    View,
    api_base,
    attachment_call,
    attachments_zip_call,
    batch_call,
    create_partner_call,
    delete_call,
    delete_many_call,
    delete_partner_call,
    download_call,
    finish,
    get_call,
    list_call,
    mark_unread_call,
    next_page,
    partner_body,
    partner_call,
    partners_call,
    receipt_call,
    receipt_key_call,
    retry_control_call,
    send_call,
    stations_call,
    update_partner_call,
)
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
)
from relaybox.client._receipts import verify_receipt

T = TypeVar("T")


class ManagementClient:
    """An account's connection to the management API (``/v1``) of a relaybox server.

    Give a ``token`` (from :meth:`authorize` or ``relaybox login``), or ``username`` and
    ``password``: then the client authorizes on first use, renews the token shortly before it
    expires, and once more when a call answers 401 (an expired or revoked token), repeating
    that call. ``base_url`` is the server's URL (a trailing ``/v1`` is accepted).

    Every non-2xx answer raises :class:`ManagementError` (``status``, ``message``,
    ``request_id``, ``retry_after``); network failures raise ``httpx.TransportError`` subclasses
    as they are. Bad arguments (an unknown view, an empty id) raise ``ValueError`` before any
    request. Message ids are ``as2_message_id``\\ s; routes are ``local@domain``.

    Example::

        with ManagementClient("http://127.0.0.1:8080", username="me@example.com", password="...") as mc:
            page = mc.received(unread_only=True, page_length=50)
            print(page.total_records, [m.as2_message_id for m in page.records])
    """

    verify_receipt = staticmethod(verify_receipt)

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._state = TokenState(token, username, password)
        self._http = httpx.Client(base_url=api_base(base_url), timeout=httpx.Timeout(timeout), transport=transport)

    @property
    def url(self) -> str:
        return str(self._http.base_url)

    @property
    def token(self) -> str | None:
        """The token in use (``None`` before the first authorize)."""
        return self._state.token

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _renew(self, stale: str | None) -> None:
        with self._state.lock:
            # Another thread may have renewed the token while this one waited for the lock.
            if self._state.token != stale and not self._state.needs_authorize():
                return
            self.authorize()

    def _exchange(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        fresh = False
        if call.token and self._state.needs_authorize():
            self._renew(self._state.token)
            fresh = True
        used = self._state.token
        response = self._http.send(call.build(self._http, used, is_async=False), stream=stream)
        if self._state.should_retry(call, response, fresh):
            response.close()
            self._renew(used)
            response = self._http.send(call.build(self._http, self._state.token, is_async=False), stream=stream)
        return response

    def _run(self, call: Call[T]) -> T:
        try:
            response = self._exchange(call)
        finally:
            call.close()
        return finish(call, response)

    # -- authentication ------------------------------------------------------------------------

    def authorize(self, username: str | None = None, password: str | None = None) -> Token:
        """``POST /v1/authorize``: get a token (24 h) and use it from now on.

        Without arguments, the constructor's credentials are used; given ones replace them.
        Bad credentials raise ``ManagementError`` 401 ``Invalid username or password``.
        """
        token = self._run(self._state.authorize_call(username, password))
        self._state.store(token, username, password)
        return token

    # -- messages ------------------------------------------------------------------------------

    def send(
        self,
        station: str,
        partner: str,
        files: SendFiles,
        *,
        partner_type: PartnerType = "production",
        subject: str | None = None,
    ) -> SendResult:
        """Send files from your ``station`` to its ``partner`` (a partner record of that type).

        ``files``: a path; ``(name, data)``; or a list of ``(name, data)`` / ``(name, data,
        content_type)`` where data is bytes, a path or a binary file object (sent from its
        start). One file goes as a raw body with a ``Name`` header, several as multipart parts.
        ``subject`` defaults to the partner's message subject. Returns the new message's id
        (parsed from the ``Link`` header) and the link URL.
        """
        return self._run(send_call(station, partner, files, partner_type, subject))

    def received(
        self,
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
    ) -> Page:
        """``GET /v1/message/received``: one page of the messages your stations received.

        ``page_offset`` is a page number (skips ``page_offset * page_length`` records);
        ``partner`` is the sender, ``station`` one of yours; ``subject`` matches a substring;
        ``unread_only`` leaves out what you marked read. Omitted arguments use the server's
        defaults (newest first, 10 per page, Production).
        """
        return self._run(
            list_call(
                "received",
                sort_col=sort_col,
                sort_dir=sort_dir,
                partner_type=partner_type,
                page_offset=page_offset,
                page_length=page_length,
                partner=partner,
                station=station,
                message_id=message_id,
                subject=subject,
                unread_only=unread_only,
            )
        )

    def sent(
        self,
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
    ) -> Page:
        """``GET /v1/message/sent``: delivered messages of your stations (``partner``: the receiver)."""
        return self._run(
            list_call(
                "sent",
                sort_col=sort_col,
                sort_dir=sort_dir,
                partner_type=partner_type,
                page_offset=page_offset,
                page_length=page_length,
                partner=partner,
                station=station,
                message_id=message_id,
                subject=subject,
            )
        )

    def failed(
        self,
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
    ) -> Page:
        """``GET /v1/message/failed``: one entry per failed delivery attempt (an id may repeat)."""
        return self._run(
            list_call(
                "failed",
                sort_col=sort_col,
                sort_dir=sort_dir,
                partner_type=partner_type,
                page_offset=page_offset,
                page_length=page_length,
                partner=partner,
                station=station,
                message_id=message_id,
                subject=subject,
            )
        )

    def queued(
        self,
        *,
        sort_col: SortCol | None = None,
        sort_dir: SortDir | None = None,
        partner_type: PartnerType | None = None,
        page_offset: int | None = None,
        page_length: int | None = None,
        query: str | None = None,
    ) -> Page:
        """``GET /v1/message/queued``: undelivered messages, ``queued`` and ``stopped`` (see ``state``).

        ``query`` matches a route on either side or an id exactly, or a subject substring.
        """
        return self._run(
            list_call(
                "queued",
                sort_col=sort_col,
                sort_dir=sort_dir,
                partner_type=partner_type,
                page_offset=page_offset,
                page_length=page_length,
                query=query,
            )
        )

    def iter_messages(
        self,
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
    ) -> Iterator[As2Message]:
        """Every message of a list (``received``, ``sent``, ``failed``, ``queued``), page by page.

        Filters as for the list methods (``query`` for ``queued`` only, ``unread_only`` for
        ``received`` only). Pages are fetched as the iteration goes, so messages that arrive,
        or are marked read or deleted meanwhile, can shift records between pages.
        """
        offset: int | None = 0
        while offset is not None:
            page = self._run(
                list_call(
                    view,
                    sort_col=sort_col,
                    sort_dir=sort_dir,
                    partner_type=partner_type,
                    page_offset=offset,
                    page_length=page_length,
                    partner=partner,
                    station=station,
                    message_id=message_id,
                    subject=subject,
                    unread_only=unread_only,
                    query=query,
                )
            )
            yield from page.records
            offset = next_page(page, offset, page_length)

    def get_received(self, message_id: str, mark_as_read: bool = False) -> As2Message:
        """One received message; ``mark_as_read`` marks it read for you (the answer shows it)."""
        return self._run(get_call("received", message_id, mark_as_read))

    def get_sent(self, message_id: str) -> As2Message:
        """One sent message."""
        return self._run(get_call("sent", message_id))

    def get_failed(self, message_id: str) -> As2Message:
        """The latest failure entry of a message."""
        return self._run(get_call("failed", message_id))

    def get_queued(self, message_id: str) -> As2Message:
        """One queued or stopped message."""
        return self._run(get_call("queued", message_id))

    def mark_unread(self, message_id: str) -> str:
        """Mark a received message unread again (idempotent); returns the server's message."""
        return self._run(mark_unread_call(message_id))

    # -- attachments and receipts --------------------------------------------------------------

    def attachment(self, view: FileView, message_id: str, index: int = 0, mark_as_read: bool = False) -> bytes:
        """The bytes of attachment ``index`` (0-based) of a ``received`` or ``sent`` message.

        For the receiver, the first download of a message records its receipt, if requested.
        """
        return self._run(attachment_call(view, message_id, index, mark_as_read))

    def download_attachment(
        self,
        view: FileView,
        message_id: str,
        index: int | Literal["all"],
        dest: DownloadDest,
        *,
        mark_as_read: bool = False,
    ) -> Download:
        """Stream attachment ``index`` (or ``"all"``: the zip) to ``dest``, a path or a binary file.

        A path is written through a temporary file beside it and replaced only once the transfer
        is complete. Returns the server's file name, the size and SHA-256 of the bytes written.
        """
        call = download_call(view, message_id, index, mark_as_read)
        try:
            response = self._exchange(call, stream=True)
        finally:
            call.close()
        try:
            if not 200 <= response.status_code < 300:
                response.read()
                raise error_from(response)
            sink = DownloadSink(dest)
            try:
                for chunk in response.iter_bytes(CHUNK):
                    sink.write(chunk)
                return sink.finish(response)
            except BaseException:
                sink.abort()
                raise
        finally:
            response.close()

    def attachments_zip(self, view: FileView, message_id: str, mark_as_read: bool = False) -> bytes:
        """All attachments of a message as one zip (``/attachments/all``), entries in index order."""
        return self._run(attachments_zip_call(view, message_id, mark_as_read))

    def batch_download(self, ids: Sequence[str], mark_as_read: bool = False) -> BatchResult:
        """The attachments of up to 100 received messages as one zip, a folder ``<id>/`` each.

        An id that cannot be served gets ``<id>/.error``. Past the server's 10 MiB cap the zip
        is cut short: ``partial`` is true and ``truncation_index`` says where it stopped.
        """
        return self._run(batch_call(ids, mark_as_read))

    def receipt(self, view: FileView, message_id: str) -> dict[str, Any]:
        """The signed receipt document (``/mdn``); 404 while there is none. Check it with
        :func:`verify_receipt` and :meth:`receipt_key`."""
        return self._run(receipt_call(view, message_id))

    def receipt_key(self) -> dict[str, Any]:
        """The server's receipt public key document (no token needed)."""
        return self._run(receipt_key_call())

    # -- retry control and deletion ------------------------------------------------------------

    def stop(self, message_id: str) -> str:
        """Stop retrying a queued message (state ``stopped``; idempotent)."""
        return self._run(retry_control_call("stop", message_id))

    def retry(self, message_id: str) -> str:
        """Resume a stopped message (state ``queued``; idempotent)."""
        return self._run(retry_control_call("retry", message_id))

    def delete(self, message_type: DeleteType, message_id: str) -> str:
        """Delete one message of a category (``received``, ``sent``, ``queued``, ``stopped``, ``failed``)."""
        return self._run(delete_call(message_type, message_id))

    def delete_many(self, message_type: DeleteType, ids: Sequence[str]) -> int:
        """Delete up to 100 messages of a category; unknown ids are skipped. Returns how many went."""
        return self._run(delete_many_call(message_type, ids))

    # -- partners and stations -----------------------------------------------------------------

    def partners(self, query: str | None = None) -> list[Partner]:
        """The partners of all your stations; ``query`` matches name or route (substring)."""
        return self._run(partners_call(query))

    def partner(self, partner_id: int) -> Partner:
        """One partner by id."""
        return self._run(partner_call(partner_id))

    def create_partner(
        self,
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
    ) -> Partner:
        """Add ``partner_route`` as a partner of your ``station``; fields left out take the defaults.

        Without ``uri`` the partner must be a route of this server (local). ``extra`` adds raw
        camelCase fields to the document. 409 if (station, route, type) exists.
        """
        body = partner_body(
            name=name,
            description=description,
            uri=uri,
            message_subject=message_subject,
            custom_headers=custom_headers,
            pause_incoming=pause_incoming,
            pause_outgoing=pause_outgoing,
            send_timeout=send_timeout,
            partner_type=partner_type,
            request_mdn=request_mdn,
            extra=extra,
        )
        return self._run(create_partner_call(station, partner_route, body))

    def update_partner(
        self,
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
    ) -> Partner:
        """Change the given fields of a partner; the others stay (``uri=None`` clears the URI).

        Clearing ``pause_outgoing`` delivers its queued local messages within the call.
        """
        body = partner_body(
            name=name,
            description=description,
            uri=uri,
            message_subject=message_subject,
            custom_headers=custom_headers,
            pause_incoming=pause_incoming,
            pause_outgoing=pause_outgoing,
            send_timeout=send_timeout,
            partner_type=partner_type,
            request_mdn=request_mdn,
            extra=extra,
        )
        return self._run(update_partner_call(partner_id, body))

    def delete_partner(self, partner_id: int) -> str:
        """Delete a partner; its queued messages become ``stopped``."""
        return self._run(delete_partner_call(partner_id))

    def stations(self, query: str | None = None) -> list[Station]:
        """Your stations; ``query`` matches name or route (substring)."""
        return self._run(stations_call(query))
