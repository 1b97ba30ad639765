"""The scale-out backend: PostgreSQL through asyncpg, payloads in the database.

Every node is stateless: routes, messages, payload bytes, used request keys all live in the
database. Payloads are written as 256 KiB chunks, each committed as it fills (bounded memory),
the last (or only) one in the message's own transaction, and read back one chunk per query.
Used request keys and download marks commit without waiting for the WAL flush
(``synchronous_commit`` off for them), as on SQLite: a small send waits for one flush. The send transaction also queues ``NOTIFY relaybox_messages``
so waiters on every node wake at commit (``relaybox.notify.pg_listen``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from sqlalchemy import delete, exists, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from relaybox.errors import StoreUnavailable
from relaybox.store.base import BlobWriter, Payload
from relaybox.store.blobs import CountingWriter, MemoryPayload
from relaybox.store.db import AlchemyDb, Db
from relaybox.store.migrate import upgrade
from relaybox.store.schema import payload_chunks, payloads
from relaybox.store.sql import BATCH, ORPHAN_GRACE, SqlStore, guard, insert_chunk

T = TypeVar("T")
NOTIFY_CHANNEL = "relaybox_messages"
CHUNK_SIZE = 256 * 1024
# Any constant works; it only has to be the same on every node.
_MIGRATION_LOCK = 0x72656C6179626F78  # "relaybox"
_NOTIFY = text("SELECT pg_notify(:channel, :route)")
_NO_SYNC = text("SET LOCAL synchronous_commit TO OFF")


def asyncpg_url(url: str) -> str:
    """``postgresql://...`` as SQLAlchemy's asyncpg URL."""
    scheme, rest = url.split("://", 1)
    return "postgresql+asyncpg://" + rest if scheme in ("postgresql", "postgres") else url


def libpq_url(url: str) -> str:
    """The plain ``postgresql://`` form that asyncpg itself accepts."""
    return "postgresql://" + url.split("://", 1)[1]


class PostgresStore(SqlStore):
    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        super().__init__()
        self.url = url
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self.engine: AsyncEngine | None = None

    async def open(self) -> None:
        engine = create_async_engine(
            asyncpg_url(self.url),
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            pool_timeout=10,
            # A node outlives database restarts: test pooled connections before use.
            pool_pre_ping=True,
            connect_args={"timeout": 10},
        )
        try:
            with guard():
                async with engine.begin() as conn:
                    # Nodes starting together migrate one after the other.
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                    await conn.run_sync(upgrade)
        except BaseException:
            await engine.dispose()
            raise
        self.engine = engine

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    async def _q(self, fn: Callable[[Db], T], *, write: bool, fsync: bool = True) -> T:
        if self.engine is None:
            raise StoreUnavailable("store is not open")
        with guard():
            async with self.engine.begin() if write else self.engine.connect() as conn:
                if write and not fsync:
                    # A used request key, a download mark: as on SQLite, it survives a crash of
                    # relaybox (the database has it), not one of the database's machine; the
                    # commit does not wait for the WAL flush.
                    await conn.execute(_NO_SYNC)
                return await conn.run_sync(lambda sync: fn(AlchemyDb(sync)))

    def _after_insert(self, db: Db, recipient: str) -> None:
        # Delivered by PostgreSQL at commit, to every node's listener; nothing if it rolls back.
        db.first(_NOTIFY, {"channel": NOTIFY_CHANNEL, "route": recipient})

    def new_blob(self) -> BlobWriter:
        return DbBlobWriter(self)

    def _store_payload(self, db: Db, payload_id: str, blob: BlobWriter, created_at: float) -> None:
        if isinstance(blob, DbBlobWriter) and blob.tail is not None:
            insert_chunk(db, payload_id, blob.tail_seq, blob.tail, created_at)

    async def open_payload(self, payload_id: str) -> Payload:
        rows = await self._all(
            select(payload_chunks.c.data)
            .where(payload_chunks.c.payload_id == payload_id, payload_chunks.c.seq.in_([0, 1]))
            .order_by(payload_chunks.c.seq)
        )
        if not rows:
            raise FileNotFoundError(payload_id)
        if len(rows) == 1:
            # A one-chunk payload is read whole here, so a purge racing the download cannot cut it.
            return MemoryPayload(bytes(rows[0][0]))
        return DbPayload(self, payload_id)

    async def _delete_payloads(self, ids: list[str]) -> None:
        def drop(db: Db) -> None:
            db.run(delete(payload_chunks).where(payload_chunks.c.payload_id.in_(ids)))
            db.run(delete(payloads).where(payloads.c.id.in_(ids)))

        await self._q(drop, write=True)

    async def _clean_orphans(self, now: float) -> int:
        def drop(db: Db) -> int:
            orphan = ~exists().where(payloads.c.id == payload_chunks.c.payload_id)
            return db.run(delete(payload_chunks).where(orphan, payload_chunks.c.created_at < now - ORPHAN_GRACE))

        return await self._q(drop, write=True)


class DbBlobWriter(CountingWriter):
    """Collects ``CHUNK_SIZE`` bytes, then stores them as one committed chunk row. The last (or
    only) chunk is kept as ``tail`` and written in the message's own transaction
    (``PostgresStore._store_payload``): a small send commits once, not twice."""

    def __init__(self, store: PostgresStore) -> None:
        super().__init__()
        self._store = store
        self._buffer = bytearray()
        self._next_seq = 0
        self._done = False
        self.tail: bytes | None = None
        self.tail_seq = 0

    async def write(self, chunk: bytes) -> None:
        self._count(chunk)
        self._buffer += chunk
        while len(self._buffer) >= CHUNK_SIZE:
            piece = bytes(self._buffer[:CHUNK_SIZE])
            del self._buffer[:CHUNK_SIZE]
            await self._store_chunk(piece)

    async def _store_chunk(self, piece: bytes) -> None:
        seq = self._next_seq
        self._next_seq += 1
        now = time.time()
        await self._store._q(lambda db: insert_chunk(db, self._id, seq, piece, now), write=True)

    async def finish(self) -> str:
        if not self._done:
            # Always at least one chunk, so that an empty payload still exists.
            if self._buffer or self._next_seq == 0:
                self.tail, self.tail_seq = bytes(self._buffer), self._next_seq
                self._buffer.clear()
            self._done = True
        return self._id

    async def discard(self) -> None:
        self._buffer.clear()
        self.tail = None  # never written: it goes only with its message's transaction
        if self._next_seq:
            try:
                await self._store._exec(delete(payload_chunks).where(payload_chunks.c.payload_id == self._id))
            except StoreUnavailable:
                pass  # the sweeper removes chunks that no payload row owns


class DbPayload:
    whole = None

    def __init__(self, store: PostgresStore, payload_id: str) -> None:
        self._store = store
        self._id = payload_id

    async def chunks(self, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        seq = 0
        while True:
            query = select(payload_chunks.c.data).where(
                payload_chunks.c.payload_id == self._id, payload_chunks.c.seq == seq
            )
            row = await self._store._first(query)
            if row is None:
                return
            if row[0]:
                yield bytes(row[0])
            seq += 1

    def close(self) -> None:
        pass


__all__ = ["BATCH", "NOTIFY_CHANNEL", "PostgresStore", "asyncpg_url", "libpq_url"]
