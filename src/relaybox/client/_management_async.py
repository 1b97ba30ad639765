"""The asyncio/trio client of relaybox's management API: the surface of ``ManagementClient``, awaited.

Example::

    from relaybox.client import AsyncManagementClient

    async with AsyncManagementClient("http://127.0.0.1:8080", username="me@example.com", password="...") as mc:
        sent = await mc.send("alpha@bars01", "bravo@bars02", ("a.txt", b"one"))
        async for msg in mc.iter_messages("received", unread_only=True):
            data = await mc.attachment("received", msg.as2_message_id, 0, mark_as_read=True)

Its public methods are generated as ``ManagementClient``'s are, from the same endpoint functions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
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
_Method = Callable[Concatenate["AsyncManagementClient", P], T]

# The makers of the public methods (the table at the end of ``AsyncManagementClient``): each
# takes an endpoint function of ``_management_core`` and gives the coroutine (or async generator)
# method of that name, signature and docstring, which runs what the endpoint builds.


def _method(endpoint: Callable[P, Call[T]]) -> _Method[P, Coroutine[Any, Any, T]]:
    async def method(self: AsyncManagementClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(endpoint(*args, **kwargs))

    expose(method, endpoint, "AsyncManagementClient")
    return method


def _pages_method(endpoint: Callable[P, Pages]) -> _Method[P, AsyncIterator[As2Message]]:
    async def method(self: AsyncManagementClient, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[As2Message]:
        pages = endpoint(*args, **kwargs)
        while (call := pages.next_call()) is not None:
            for record in pages.take(await self._run(call)):
                yield record

    expose(method, endpoint, "AsyncManagementClient", "AsyncIterator[As2Message]")
    return method


def _download_method(endpoint: Callable[P, DownloadCall]) -> _Method[P, Coroutine[Any, Any, Download]]:
    async def method(self: AsyncManagementClient, /, *args: P.args, **kwargs: P.kwargs) -> Download:
        return await self._download(endpoint(*args, **kwargs))

    expose(method, endpoint, "AsyncManagementClient", "Download")
    return method


class AsyncManagementClient(ClientBase[httpx.AsyncClient]):
    """The async twin of :class:`relaybox.client.ManagementClient`: same methods, awaited;
    ``aclose`` and ``async with``; ``iter_messages`` is an async iterator.

    Tokens, errors and arguments work as in ``ManagementClient``. Uploads and path downloads do
    their (short, chunked) file I/O on the event loop thread.

    Example::

        async with AsyncManagementClient("http://127.0.0.1:8080", token=token) as mc:
            page = await mc.received(unread_only=True, page_length=50)
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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(token, username, password)
        self._http = httpx.AsyncClient(base_url=api_base(base_url), timeout=httpx.Timeout(timeout), transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncManagementClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- running calls -------------------------------------------------------------------------

    async def _renew(self, stale: str | None) -> None:
        # No lock (it would have to fit asyncio and trio): tasks renewing at once each get a
        # token and the last one stays, which is harmless. One that finds it renewed skips.
        if self._state.token != stale and not self._state.needs_authorize():
            return
        await self.authorize()

    async def _send(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        """Send ``call`` (authorizing first if due, once more after a 401), then close its files."""
        try:
            fresh = call.token and self._state.needs_authorize()
            if fresh:
                await self._renew(self._state.token)
            used = self._state.token
            response = await self._http.send(call.build(self._http, used, is_async=True), stream=stream)
            if self._state.should_retry(call, response, fresh):
                await response.aclose()
                await self._renew(used)
                response = await self._http.send(
                    call.build(self._http, self._state.token, is_async=True), stream=stream
                )
            return response
        finally:
            call.close()

    async def _run(self, call: Call[T]) -> T:
        return finish(call, await self._send(call))

    async def _download(self, download: DownloadCall) -> Download:
        response = await self._send(download.call, stream=True)
        try:
            if not response.is_success:
                await response.aread()
                raise error_from(response)
            with DownloadSink(download.dest) as sink:
                async for chunk in response.aiter_bytes(CHUNK):
                    sink.write(chunk)
                return sink.finish(response)
        finally:
            await response.aclose()

    # -- the API -------------------------------------------------------------------------------

    async def authorize(self, username: str | None = None, password: str | None = None) -> Token:
        """``POST /v1/authorize``: get a token (24 h) and use it from now on.

        Without arguments, the constructor's credentials are used; given ones replace them.
        Bad credentials raise ``ManagementError`` 401 ``Invalid username or password``.
        """
        token = await self._run(self._state.authorize_call(username, password))
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
