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

Each public method is generated from the endpoint function of the same name in
``_management_core`` (its signature and docstring): it runs the ``Call`` that function builds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from relaybox.client import _management_core as api
from relaybox.client._core import CHUNK
from relaybox.client._management_core import (
    DEFAULT_TIMEOUT,
    Call,
    ClientBase,
    DownloadCall,
    DownloadSink,
    Pages,
    api_base,
    expose,
    finish,
)
from relaybox.client._management_models import As2Message, Download, Token, error_from
from relaybox.client._receipts import verify_receipt

P = ParamSpec("P")
T = TypeVar("T")
_Method = Callable[Concatenate["ManagementClient", P], T]

# The makers of the public methods (the table at the end of ``ManagementClient``): each takes an endpoint
# function of ``_management_core`` and gives the method of that name, signature and docstring,
# which runs what the endpoint builds: a ``Call``, the ``Pages`` of a list, or a ``DownloadCall``.


def _method(endpoint: Callable[P, Call[T]]) -> _Method[P, T]:
    def method(self: ManagementClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(endpoint(*args, **kwargs))

    expose(method, endpoint, "ManagementClient")
    return method


def _pages_method(endpoint: Callable[P, Pages]) -> _Method[P, Iterator[As2Message]]:
    def method(self: ManagementClient, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[As2Message]:
        pages = endpoint(*args, **kwargs)
        while (call := pages.next_call()) is not None:
            yield from pages.take(self._run(call))

    expose(method, endpoint, "ManagementClient", "Iterator[As2Message]")
    return method


def _download_method(endpoint: Callable[P, DownloadCall]) -> _Method[P, Download]:
    def method(self: ManagementClient, /, *args: P.args, **kwargs: P.kwargs) -> Download:
        return self._download(endpoint(*args, **kwargs))

    expose(method, endpoint, "ManagementClient", "Download")
    return method


class ManagementClient(ClientBase[httpx.Client]):
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
        super().__init__(token, username, password)
        self._http = httpx.Client(base_url=api_base(base_url), timeout=httpx.Timeout(timeout), transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- running calls -------------------------------------------------------------------------

    def _renew(self, stale: str | None) -> None:
        with self._state.lock:
            # Another thread may have renewed the token while this one waited for the lock.
            if self._state.token != stale and not self._state.needs_authorize():
                return
            self.authorize()

    def _send(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        """Send ``call`` (authorizing first if due, once more after a 401), then close its files."""
        try:
            fresh = call.token and self._state.needs_authorize()
            if fresh:
                self._renew(self._state.token)
            used = self._state.token
            response = self._http.send(call.build(self._http, used, is_async=False), stream=stream)
            if self._state.should_retry(call, response, fresh):
                response.close()
                self._renew(used)
                response = self._http.send(call.build(self._http, self._state.token, is_async=False), stream=stream)
            return response
        finally:
            call.close()

    def _run(self, call: Call[T]) -> T:
        return finish(call, self._send(call))

    def _download(self, download: DownloadCall) -> Download:
        response = self._send(download.call, stream=True)
        try:
            if not response.is_success:
                response.read()
                raise error_from(response)
            with DownloadSink(download.dest) as sink:
                for chunk in response.iter_bytes(CHUNK):
                    sink.write(chunk)
                return sink.finish(response)
        finally:
            response.close()

    # -- the API -------------------------------------------------------------------------------

    def authorize(self, username: str | None = None, password: str | None = None) -> Token:
        """``POST /v1/authorize``: get a token (24 h) and use it from now on.

        Without arguments, the constructor's credentials are used; given ones replace them.
        Bad credentials raise ``ManagementError`` 401 ``Invalid username or password``.
        """
        token = self._run(self._state.authorize_call(username, password))
        self._state.store(token, username, password)
        return token

    send = _method(api.send)
    received = _method(api.received)
    sent = _method(api.sent)
    failed = _method(api.failed)
    queued = _method(api.queued)
    iter_messages = _pages_method(api.iter_messages)
    get_received = _method(api.get_received)
    get_sent = _method(api.get_sent)
    get_failed = _method(api.get_failed)
    get_queued = _method(api.get_queued)
    mark_unread = _method(api.mark_unread)
    attachment = _method(api.attachment)
    download_attachment = _download_method(api.download_attachment)
    attachments_zip = _method(api.attachments_zip)
    batch_download = _method(api.batch_download)
    receipt = _method(api.receipt)
    receipt_key = _method(api.receipt_key)
    stop = _method(api.stop)
    retry = _method(api.retry)
    delete = _method(api.delete)
    delete_many = _method(api.delete_many)
    partners = _method(api.partners)
    partner = _method(api.partner)
    create_partner = _method(api.create_partner)
    update_partner = _method(api.update_partner)
    delete_partner = _method(api.delete_partner)
    stations = _method(api.stations)
