"""The HTTP/1.1 protocol relaybox serves with: uvicorn's httptools protocol with bounds on how
much and how slowly a client may send.

- Head size: httptools accepts a request line and headers of any size (a 256 MB header was
  read whole), so a client could hold that much memory per connection; past ``MAX_HEAD`` bytes
  before the end of the head the connection gets ``431`` and is closed.
- Head time: uvicorn has no timeout between accepting a connection (or the first byte of a
  keep-alive request) and the end of its head, so a slow-loris client sending a header byte a
  second held its connection (a file handle, a protocol object) for ever. A head not complete
  within ``head_timeout`` seconds gets ``408`` and the connection is closed.
- Body pace: nor does uvicorn time out a request body; a send that stops (or trickles a byte a
  second) held the connection and its half-written upload for ever. Every ``body_timeout``
  seconds of a body must bring at least one byte and ``body_min_rate`` bytes a second on
  average, else the connection is closed (``408`` if nothing was answered yet); the handler
  sees a disconnect and drops the upload. Time during which *we* stopped reading (the
  application is slower than the client, or has not yet asked for the body) does not count.

- Response pace: a client that stops reading a response (a download) without closing held its
  connection and the open payload for ever once the kernel buffers filled. When writing stays
  paused (our buffer above its high-water mark) for ``write_timeout`` seconds, the connection
  is aborted; the handler sees the disconnect and closes the payload.

A timeout of 0 turns that bound off.

- Shutdown: uvicorn asks every connection to finish (``shutdown``) before its grace period; the
  application hears of it through ``on_server_shutdown`` and ends its long-polls with their
  ordinary answer rather than having them cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from relaybox.config import DEFAULT_BODY_MIN_RATE, DEFAULT_BODY_TIMEOUT, DEFAULT_HEAD_TIMEOUT, DEFAULT_WRITE_TIMEOUT

MAX_HEAD = 64 * 1024  # request line + headers; relaybox's own headers are at most 1 KiB each
# A loop timer may fire up to the clock's resolution early; never treat that as "not yet".
_EARLY = 0.01


def _refusal(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + text
    )


_TOO_LARGE = _refusal(b"431 Request Header Fields Too Large", b"Request header fields are too large")
_TOO_SLOW = _refusal(b"408 Request Timeout", b"Request not received in time")


_shutdown_listeners: set[Callable[[], None]] = set()


def on_server_shutdown(listener: Callable[[], None]) -> Callable[[], None]:
    """Have ``listener()`` called (maybe more than once) when the server starts shutting down;
    returns the function that forgets it."""
    _shutdown_listeners.add(listener)
    return lambda: _shutdown_listeners.discard(listener)


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn builds one per connection with its own arguments; ``_serve`` binds the three
    bounds with ``functools.partial`` (picklable, so ``--workers`` processes get them too)."""

    def __init__(
        self,
        *args: Any,
        head_timeout: float = DEFAULT_HEAD_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        body_min_rate: float = DEFAULT_BODY_MIN_RATE,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._write_timeout = write_timeout
        self._write_timer: asyncio.TimerHandle | None = None
        self._head_timeout = head_timeout
        self._body_timeout = body_timeout
        self._body_min_rate = body_min_rate
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_body = False
        self._body_timer: asyncio.TimerHandle | None = None
        self._last_data = 0.0  # loop time of the last body bytes
        self._window_start = 0.0  # the current pace window of the body
        self._window_bytes = 0
        self._paused_in_window = False

    # -- connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte is a head that never completes.
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._in_head:
            # Still inside a head after this chunk: all of it was head.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._refuse(_TOO_LARGE)
                return
        if self._in_body:
            now = self.loop.time()
            self._last_data = now
            self._window_bytes += len(data)
            if self._body_timer is None and self._body_timeout > 0:
                self._window_start = now
                self._window_bytes = len(data)
                self._paused_in_window = False
                self._body_timer = self.loop.call_at(now + self._body_timeout, self._check_body)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None and self._write_timeout > 0:
            self._write_timer = self.loop.call_later(self._write_timeout, self._write_expired)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_expired(self) -> None:
        self._write_timer = None
        if self.flow.write_paused:  # (resume_writing cancels the timer; checked all the same)
            self.logger.debug("%s: took no response bytes for %s s, dropped", self.client, self._write_timeout)
            # abort, not close: close would wait for the buffered bytes the client never takes.
            self.transport.abort()

    def shutdown(self) -> None:
        for listener in list(_shutdown_listeners):
            listener()
        super().shutdown()

    # -- parser callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._in_head = True
        # A pipelined head arriving while the previous response is still being produced (a
        # long-poll) is not late: its clock starts when that response is complete.
        if not self._response_in_progress():
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        self._in_body = True  # until on_message_complete, which comes at once without a body
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self.flow.read_paused:
            self._paused_in_window = True  # the application fell behind: see _check_body

    def on_message_complete(self) -> None:
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._in_head and not self.transport.is_closing():
            self._arm_head_timer()  # a pipelined head that started during the response

    # -- timers -------------------------------------------------------------------------------
    def _response_in_progress(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and self._head_timeout > 0:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_expired)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.logger.debug("%s: request head not complete in %s s, closed", self.client, self._head_timeout)
            self._refuse(_TOO_SLOW)

    def _check_body(self) -> None:
        self._body_timer = None
        if not self._in_body or self.transport.is_closing():
            return
        now = self.loop.time()
        timeout = self._body_timeout
        cycle = self.cycle
        paused = self.flow.read_paused or self._paused_in_window
        if paused or (cycle is not None and cycle.waiting_for_100_continue):
            # We stopped reading in this window (the application has not caught up, or has
            # not yet asked for the body a client sending Expect: 100-continue waits for):
            # the delay is ours, not the client's. Start a fresh window.
            self._last_data = self._window_start = now
            self._window_bytes = 0
            self._paused_in_window = False
        elif now - self._last_data >= timeout - _EARLY:
            self._body_expired(f"no body bytes for {timeout} s")
            return
        elif now - self._window_start >= timeout - _EARLY:
            if self._window_bytes < self._body_min_rate * timeout:
                self._body_expired(f"body slower than {self._body_min_rate} bytes/s")
                return
            self._window_start = now
            self._window_bytes = 0
            self._paused_in_window = False
        due = min(self._last_data, self._window_start) + timeout
        self._body_timer = self.loop.call_at(max(due, now + _EARLY), self._check_body)

    def _body_expired(self, why: str) -> None:
        self.logger.debug("%s: %s, closed", self.client, why)
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            self.transport.close()
            return
        self._refuse(_TOO_SLOW)
        # The handler is waiting for body bytes: it sees the disconnect now (and discards the
        # upload), and whatever it answers is not written after our 408.
        cycle.disconnected = True
        cycle.message_event.set()

    def _refuse(self, answer: bytes) -> None:
        self._cancel_timers()
        self.transport.write(answer)
        self.transport.close()
