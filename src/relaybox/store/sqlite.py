"""The embedded backend: SQLite (WAL) in the data dir; small payloads in the database, large
ones as files beside it.

Queries run inline on the event loop: one takes tens of microseconds from the page cache, far
less than handing each to a worker thread and back (aiosqlite measured about ten times slower
here). Writes are group-committed: every write transaction requested while the loop was busy
runs in one SQLite transaction (each in its own SAVEPOINT, so one failing write does not touch
the others) and one commit answers them all. The commit writes the WAL; a separate task
fdatasyncs it in a thread while the loop goes on, and a caller's write is acknowledged only
after that sync, so a 200 still means durable (``_sync_loop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, create_engine, delete, event, make_url, select
from sqlalchemy.pool import NullPool

from relaybox.errors import StoreUnavailable
from relaybox.store.base import BlobWriter, Payload
from relaybox.store.blobs import FileBlobs, FileBlobWriter, MemoryPayload
from relaybox.store.db import Db, SqliteDb
from relaybox.store.migrate import upgrade
from relaybox.store.schema import payload_chunks, payloads
from relaybox.store.sql import BATCH, ORPHAN_GRACE, SqlStore, guard, insert_chunk

T = TypeVar("T")
_FIRST_CHUNK = select(payload_chunks.c.data).where(
    payload_chunks.c.payload_id == bindparam("payload_id"), payload_chunks.c.seq == 0
)
_Pending = tuple[Callable[[Db], Any], "asyncio.Future[Any]", bool]
# WAL syncs between checkpoints: a few MiB of WAL under load (SQLite's own auto-checkpoint,
# switched off here, would run inside a commit on the event loop every 1,000 pages).
_CHECKPOINT_EVERY = 256
# ... or as soon as the WAL is past this size (large group commits and the sweeper's batches made
# 256 syncs worth 60-160 MiB in the soak test), and the file is cut back to it after a checkpoint
# (journal_size_limit): without it the WAL kept its largest size for ever.
_WAL_LIMIT = 16 * 1024 * 1024


class SqliteStore(SqlStore):
    # A full or read-only data dir must not take the reads down with the sends. Held keys are
    # per process: while writes fail, SQLite workers (RELAYBOX_WORKERS > 1) do not see each
    # other's, which the keys' own timestamp window bounds.
    hold_keys_in_memory = True

    def __init__(self, url: str, data_dir: Path) -> None:
        super().__init__()
        self.url = url
        self.blobs = FileBlobs(data_dir)
        self._db: SqliteDb | None = None
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self._unsynced: list[tuple[asyncio.Future[Any], Any]] = []
        self._sync_wake = asyncio.Event()
        self._wal_fd: int | None = None
        self._sync_pool: ThreadPoolExecutor | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._path = ""
        self._syncs = 0
        self._checkpointing: asyncio.Future[None] | None = None
        self._visible: list[str] = []
        # Payload files whose rows the current group commit writes (``_store_payload``).
        self._files: list[FileBlobWriter] = []
        self._listener: Callable[[str], None] | None = None

    async def open(self) -> None:
        self.blobs.prepare()
        with guard():
            _migrate(self.url)
            path = make_url(self.url).database or ":memory:"
            raw = sqlite3.connect(path, check_same_thread=False)
            try:
                _sqlite_pragmas(raw, None)
                # Reading once makes SQLite open (or create) the WAL file this store syncs.
                raw.execute("SELECT count(*) FROM sqlite_master").fetchone()
                self._wal_fd = os.open(path + "-wal", os.O_RDONLY)
            except BaseException:
                raw.close()
                raise
            # Commits only write the WAL; the store makes it durable itself (``_sync_loop``),
            # and checkpoints it from the sync thread, not inside a commit on the event loop.
            raw.execute("PRAGMA synchronous=NORMAL")
            raw.execute("PRAGMA wal_autocheckpoint=0")
            raw.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
            # SQLite's lower() folds ASCII only; /v1's case-insensitive searches (ILIKE renders
            # as lower(x) LIKE lower(y) here) should fold every script, as on PostgreSQL.
            raw.create_function("lower", 1, _lower, deterministic=True)
            self._path = path
            self._db = SqliteDb(raw)
        self._committer = asyncio.create_task(self._commit_loop(), name="relaybox-group-commit")
        # A thread of its own: syncs never queue behind payload file work in the default pool.
        self._sync_pool = ThreadPoolExecutor(1, thread_name_prefix="relaybox-wal-sync")
        self._syncer = asyncio.create_task(self._sync_loop(), name="relaybox-wal-sync")

    async def close(self) -> None:
        # Let queued writes commit and reach the disk before the connection goes away.
        for _ in range(1000):
            if not (self._pending or self._unsynced) or self._committer is None or self._committer.done():
                break
            self._wake.set()
            self._sync_wake.set()
            await asyncio.sleep(0.001)
        for task in (self._committer, self._syncer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._committer = self._syncer = None
        if self._sync_pool is not None:
            self._sync_pool.shutdown(wait=True)
            self._sync_pool = None
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
        if self._db is not None:
            self._db.raw.close()
            self._db = None

    def on_commit(self, listener: Callable[[str], None]) -> None:
        self._listener = listener

    async def ping(self) -> None:
        self.blobs.check()
        await super().ping()

    async def _q(self, fn: Callable[[Db], T], *, write: bool, fsync: bool = True) -> T:
        db = self._db
        if db is None:
            raise StoreUnavailable("store is not open")
        if not write:
            # Autocommit: each statement reads a consistent snapshot, and a read never runs
            # inside a group commit (both are synchronous on this one thread).
            with guard():
                return fn(db)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future, fsync))
        self._wake.set()
        return await future

    def _after_insert(self, db: Db, recipient: str) -> None:
        self._visible.append(recipient)

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # One more turn of the loop lets every request that is ready add its write.
            await asyncio.sleep(0)
            if self._checkpointing is not None:
                # Commits wait (requests do not): a checkpoint that no commit races finishes
                # the whole WAL, and only then does the next commit start it over.
                with contextlib.suppress(Exception):  # its errors are its own; a cancel stops us
                    await self._checkpointing
            batch, self._pending = self._pending, []
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        db = self._db
        outcomes: list[tuple[asyncio.Future[Any], bool, Any, bool]] = []
        self._visible = []
        self._files = []
        try:
            with guard():
                if db is None:
                    raise StoreUnavailable("store is not open")
                # IMMEDIATE takes the write lock up front (waiting under busy_timeout for other
                # worker processes) instead of failing when a read would turn into a write.
                db.sql("BEGIN IMMEDIATE")
                try:
                    for fn, future, fsync in batch:
                        db.sql("SAVEPOINT w")
                        seen, files = len(self._visible), len(self._files)
                        try:
                            with guard():
                                value = fn(db)
                        except Exception as exc:  # this write alone is undone; it gets its error
                            db.sql("ROLLBACK TO w")
                            db.sql("RELEASE w")
                            del self._visible[seen:]
                            del self._files[files:]
                            outcomes.append((future, False, exc, False))
                        else:
                            db.sql("RELEASE w")
                            outcomes.append((future, True, value, fsync))
                    db.sql("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.raw.execute("ROLLBACK")
                    raise
        except BaseException as exc:  # the commit failed: none of the batch is stored
            for _fn, future, _fsync in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        # Committed: from here a failure (the WAL sync) may still answer 503, but the rows stand,
        # so their payload files must survive the senders' discard().
        for blob in self._files:
            blob.committed()
        self._files = []
        # Visible to readers now: wake waiters while the WAL is still being synced (a waiter
        # may hold a message a moment before its sender's 200; a power loss in that moment
        # makes the sender retry, which is at-least-once, never a lost acknowledged message).
        if self._listener is not None:
            for recipient in dict.fromkeys(self._visible):
                self._listener(recipient)
        for future, ok, value, fsync in outcomes:
            if ok and fsync:
                self._unsynced.append((future, value))  # answered once the WAL is on disk
                self._sync_wake.set()
            elif not future.done():  # else its request went away; the write stands all the same
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def _sync_loop(self) -> None:
        """fdatasync the WAL in a thread, then answer every write committed before it began:
        the loop keeps parsing and committing the next batch meanwhile (pipelined group commit).
        Request keys skip this (``fsync=False``): a commit in WAL mode already survives a crash
        of this process, only not a power loss."""
        while True:
            await self._sync_wake.wait()
            self._sync_wake.clear()
            done, self._unsynced = self._unsynced, []
            if not done:
                continue
            error: Exception | None = None
            try:
                with guard():
                    assert self._wal_fd is not None
                    await asyncio.get_running_loop().run_in_executor(self._sync_pool, os.fdatasync, self._wal_fd)
            except Exception as exc:  # not CancelledError: close() must be able to stop this loop
                error = exc
            for future, value in done:
                if future.done():
                    continue
                if error is None:
                    future.set_result(value)
                else:
                    future.set_exception(error)
            self._syncs += 1
            if error is None and (self._syncs % _CHECKPOINT_EVERY == 0 or self._wal_size() > _WAL_LIMIT):
                self._checkpointing = asyncio.get_running_loop().run_in_executor(self._sync_pool, self._checkpoint)
                try:
                    await self._checkpointing
                finally:
                    self._checkpointing = None

    def _wal_size(self) -> int:
        return os.fstat(self._wal_fd).st_size if self._wal_fd is not None else 0

    def _checkpoint(self) -> None:
        """Copy the WAL into the database (in the sync thread, on a connection of its own).
        PASSIVE never blocks writers; a checkpoint busy elsewhere (another worker) is skipped."""
        try:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
                self._checkpointer.execute("PRAGMA busy_timeout=0")
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # tried again after the next sync

    # -- payloads --------------------------------------------------------------------------
    def new_blob(self) -> BlobWriter:
        return self.blobs.writer()

    def _store_payload(self, db: Db, payload_id: str, blob: BlobWriter, created_at: float) -> None:
        data = blob.inline if isinstance(blob, FileBlobWriter) else None
        if data is not None:
            insert_chunk(db, payload_id, 0, data, created_at)
        elif isinstance(blob, FileBlobWriter):
            self._files.append(blob)  # its file belongs to the row once the batch commits

    async def open_payload(self, payload_id: str) -> Payload:
        row = await self._q(lambda db: db.first(_FIRST_CHUNK, {"payload_id": payload_id}), write=False)
        if row is not None:
            return MemoryPayload(bytes(row[0]))
        return self.blobs.open(payload_id)

    async def _delete_payloads(self, ids: list[str]) -> None:
        # Files first, then rows: a crash in between leaves a row without file that no message
        # points at, which the next sweep removes.
        with guard():
            for pid in ids:
                self.blobs.delete(pid)

        def drop(db: Db) -> None:
            db.run(delete(payload_chunks).where(payload_chunks.c.payload_id.in_(ids)))
            db.run(delete(payloads).where(payloads.c.id.in_(ids)))

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


def _migrate(url: str) -> None:
    """Alembic runs on a SQLAlchemy connection of its own, closed again before serving.
    Worker processes starting together migrate one after the other (BEGIN IMMEDIATE)."""
    engine = create_engine(url, poolclass=NullPool)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    try:
        with engine.begin() as conn:
            upgrade(conn)
    finally:
        engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver: relaybox issues BEGIN/SAVEPOINT/COMMIT itself (the driver's
    # own implicit BEGIN would break the SAVEPOINTs that group commit relies on).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a 200 means the commit survived power loss, not just a process crash.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
