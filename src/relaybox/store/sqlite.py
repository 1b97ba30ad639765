"""The embedded backend: SQLite (WAL) in the data dir; small payloads in the database, large
ones as files beside it.

Queries run inline on the event loop: one takes tens of microseconds from the page cache, far
less than handing each to a worker thread and back (aiosqlite measured about ten times slower
here). Writes are group-committed: every write transaction requested while the loop was busy
runs in one SQLite transaction (each in its own SAVEPOINT, so one failing write does not touch
the others) and one commit, one fsync, answers them all. A caller's write is acknowledged only
after that commit, so a 200 still means durable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, create_engine, delete, event, insert, select
from sqlalchemy.pool import SingletonThreadPool

from relaybox.errors import StoreUnavailable
from relaybox.store.base import BlobWriter, Payload
from relaybox.store.blobs import FileBlobs, FileBlobWriter, MemoryPayload
from relaybox.store.migrate import upgrade
from relaybox.store.schema import payload_chunks, payloads
from relaybox.store.sql import BATCH, ORPHAN_GRACE, SqlStore, guard

T = TypeVar("T")
_INSERT_CHUNK = insert(payload_chunks)
_FIRST_CHUNK = select(payload_chunks.c.data).where(
    payload_chunks.c.payload_id == bindparam("payload_id"), payload_chunks.c.seq == 0
)
_Pending = tuple[Callable[[Connection], Any], "asyncio.Future[Any]"]


class SqliteStore(SqlStore):
    def __init__(self, url: str, data_dir: Path) -> None:
        super().__init__()
        self.url = url
        self.blobs = FileBlobs(data_dir)
        self.engine: Engine | None = None
        self._writer: Engine | None = None
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.blobs.prepare()
        with guard():
            # One connection is all an inline store can use at a time.
            engine = create_engine(self.url, poolclass=SingletonThreadPool)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            self.engine = engine
            self._writer = engine.execution_options(relaybox_write=True)
            with self._writer.begin() as conn:
                upgrade(conn)
        self._committer = asyncio.create_task(self._commit_loop(), name="relaybox-group-commit")

    async def close(self) -> None:
        if self._committer is not None:
            # Let queued writes finish before the connection goes away.
            while self._pending and not self._committer.done():
                self._wake.set()
                await asyncio.sleep(0)
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
            self._committer = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    async def ping(self) -> None:
        self.blobs.check()
        await super().ping()

    async def _q(self, fn: Callable[[Connection], T], *, write: bool) -> T:
        if self.engine is None:
            raise StoreUnavailable("store is not open")
        if not write:
            with guard():
                with self.engine.connect() as conn:
                    return fn(conn)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        self._wake.set()
        return await future

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # One more turn of the loop lets every request that is ready add its write.
            await asyncio.sleep(0)
            batch, self._pending = self._pending, []
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            with guard():
                assert self._writer is not None
                with self._writer.begin() as conn:
                    for fn, future in batch:
                        try:
                            with conn.begin_nested(), guard():
                                outcomes.append((future, True, fn(conn)))
                        except Exception as exc:  # this write alone is undone; it gets its error
                            outcomes.append((future, False, exc))
        except BaseException as exc:  # the commit failed: none of the batch is stored
            for _fn, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, ok, value in outcomes:
            if future.done():
                continue  # its request went away; the write is committed all the same
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    # -- payloads --------------------------------------------------------------------------
    def new_blob(self) -> BlobWriter:
        return self.blobs.writer()

    def _store_payload(self, conn: Connection, payload_id: str, blob: BlobWriter, created_at: float) -> None:
        data = blob.inline if isinstance(blob, FileBlobWriter) else None
        if data is not None:
            conn.execute(_INSERT_CHUNK, {"payload_id": payload_id, "seq": 0, "data": data, "created_at": created_at})

    async def open_payload(self, payload_id: str) -> Payload:
        row = await self._q(lambda c: c.execute(_FIRST_CHUNK, {"payload_id": payload_id}).first(), write=False)
        if row is not None:
            return MemoryPayload(bytes(row[0]))
        return self.blobs.open(payload_id)

    async def _delete_payloads(self, ids: list[str]) -> None:
        # Files first, then rows: a crash in between leaves a row without file that no message
        # points at, which the next sweep removes.
        with guard():
            for pid in ids:
                self.blobs.delete(pid)

        def drop(conn: Connection) -> None:
            conn.execute(delete(payload_chunks).where(payload_chunks.c.payload_id.in_(ids)))
            conn.execute(delete(payloads).where(payloads.c.id.in_(ids)))

        await self._q(drop, write=True)

    async def _clean_orphans(self, now: float) -> int:
        """Files left by a crash between the payload rename and the database commit."""
        with guard():
            removed = self.blobs.clean_tmp(now - ORPHAN_GRACE)
            candidates = [pid for pid, mtime in self.blobs.stored_ids() if mtime < now - ORPHAN_GRACE]
        for i in range(0, len(candidates), BATCH):
            batch = candidates[i : i + BATCH]
            known = await self.known_payloads(batch)
            with guard():
                for pid in batch:
                    if pid not in known:
                        self.blobs.delete(pid)
                        removed += 1
        return removed


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Transactions are begun by ``_sqlite_begin`` (the driver's own implicit BEGIN would break
    # SAVEPOINTs, which group commit relies on).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a 200 means the commit survived power loss, not just a process crash.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front (waiting under busy_timeout), instead of failing
    # with SQLITE_BUSY when a read transaction tries to become a write one.
    write = conn.get_execution_options().get("relaybox_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
