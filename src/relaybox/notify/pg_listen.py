"""Cross-node wake-ups through PostgreSQL LISTEN/NOTIFY.

One listening connection per node (not one per waiter). A send's transaction queues
``pg_notify('relaybox_messages', <recipient>)``; PostgreSQL delivers it at commit to every
node, whose listener wakes that route's local waiters.

When the listening connection is lost (a database restart), it reconnects with backoff. While
it is down, waiters re-check the database every ``fallback_poll`` seconds, and on reconnect every
waiter is woken once, so a message that committed in between is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from relaybox.notify.hub import LocalHub

log = logging.getLogger("relaybox.notify")

CHANNEL = "relaybox_messages"
# How often a silent connection is probed; a dead TCP peer is otherwise noticed only by the
# kernel's keepalive, minutes later.
_HEALTH_EVERY = 5.0
_MAX_BACKOFF = 5.0


class PgHub(LocalHub):
    def __init__(self, dsn: str, *, fallback_poll: float = 1.0) -> None:
        super().__init__()
        self.dsn = dsn
        self._fallback = fallback_poll
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    @property
    def poll_interval(self) -> float | None:
        return None if self.connected.is_set() else self._fallback

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="relaybox-pg-listen")
        # Serve at once either way; give the first connection a moment so that the common case
        # starts with push wake-ups rather than fallback polling.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=10)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.connected.set()
                backoff = 0.2
                # Anything that committed while we were not listening: let every waiter look.
                self.notify_all()
                log.info("listening for cross-node wake-ups")
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), _HEALTH_EVERY)
                    if not lost.is_set():
                        await conn.execute("SELECT 1")
                raise ConnectionError("listening connection closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: reconnect, never give up
                if self.connected.is_set():
                    log.warning("lost the wake-up connection (%s); reconnecting", type(exc).__name__)
                self.connected.clear()
                self.notify_all()  # waiters switch to fallback polling now
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.notify(payload)
