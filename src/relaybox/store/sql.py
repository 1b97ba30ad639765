"""SqlStore: the queries every SQL backend shares (SQLAlchemy Core, async)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, create_engine, delete, event, exists, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import SingletonThreadPool
from sqlalchemy.sql import Executable

from relaybox.errors import ErrorCode, RelayboxError, StoreUnavailable
from relaybox.store.base import BlobWriter, MessageRecord, NewMessage, Payload, RouteRecord, SendOutcome, SweepReport
from relaybox.store.blobs import FileBlobs
from relaybox.store.schema import messages, payloads, request_keys, routes
from relaybox.wire.ids import new_link

T = TypeVar("T")
_BATCH = 1000
# Upload temp files and unreferenced payload files younger than this are left alone: they may
# belong to a request still in flight.
_ORPHAN_GRACE = 3600.0
_ORPHAN_SCAN_EVERY = 3600.0


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Turn driver and disk failures into 503 code 503; integrity errors pass through."""
    try:
        yield
    except IntegrityError:
        raise
    except (OperationalError, DBAPIError) as exc:
        raise StoreUnavailable(f"database unavailable: {type(exc.orig).__name__ if exc.orig else exc}") from None
    except OSError as exc:
        raise StoreUnavailable(f"storage unavailable: {exc.strerror}") from None


def _message(row: Row[Any]) -> MessageRecord:
    m = row._mapping
    return MessageRecord(
        seq=m["seq"],
        link=m["link"],
        recipient=m["recipient"],
        sender=m["sender"],
        message_id=m["message_id"],
        md5=m["md5"],
        size=m["size"],
        file_name=m["file_name"],
        pay_for_reply=bool(m["pay_for_reply"]),
        priority=m["priority"],
        received_at=m["received_at"],
        expires_at=m["expires_at"],
        payload_id=m["payload_id"],
    )


def _route(row: Row[Any]) -> RouteRecord:
    m = row._mapping
    return RouteRecord(route=m["route"], secret=m["secret"], enabled=bool(m["enabled"]), created_at=m["created_at"])


class SqlStore:
    """A ``Store`` on SQLAlchemy with payload files in ``data_dir``.

    Queries are plain functions of a SQLAlchemy ``Connection``. On SQLite they run inline on
    the event loop: a query takes tens of microseconds from the page cache and a commit one
    fsync, far less than handing each one to a worker thread and back (aiosqlite measured about
    ten times slower here). Running inline also makes every transaction atomic with respect to
    the other requests of this process, so SQLite's single writer is never contended from inside.
    """

    def __init__(self, url: str, data_dir: Path) -> None:
        if not url.startswith("sqlite"):
            raise ValueError("SqlStore runs on SQLite; PostgreSQL arrives with its own engine setup")
        self.url = url
        self.blobs = FileBlobs(data_dir)
        self.engine: Engine | None = None
        self._last_orphan_scan = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        self.blobs.prepare()
        with _guard():
            # One connection is all an inline store can use at a time.
            engine = create_engine(self.url, poolclass=SingletonThreadPool)
            event.listen(engine, "connect", _sqlite_pragmas)
            self.engine = engine
            with engine.begin() as conn:
                _migrate(conn)

    async def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    async def ping(self) -> None:
        self.blobs.check()
        self._run(lambda conn: conn.execute(text("SELECT 1")), write=False)

    def _run(self, fn: Callable[[Connection], T], *, write: bool) -> T:
        if self.engine is None:
            raise StoreUnavailable("store is not open")
        with _guard():
            with self.engine.begin() if write else self.engine.connect() as conn:
                return fn(conn)

    def _exec(self, statement: Executable) -> int:
        """Run one write statement in its own transaction; the number of rows it touched."""
        return self._run(lambda c: int(c.execute(statement).rowcount), write=True)

    def _all(self, query: Executable) -> Sequence[Row[Any]]:
        return self._run(lambda c: c.execute(query).all(), write=False)

    def _first(self, query: Executable) -> Row[Any] | None:
        return self._run(lambda c: c.execute(query).first(), write=False)

    def _scalars(self, query: Executable) -> list[Any]:
        return self._run(lambda c: list(c.execute(query).scalars().all()), write=False)

    # -- routes ----------------------------------------------------------------------------
    async def add_route(self, route: str, secret: str, now: float) -> bool:
        try:
            self._exec(insert(routes).values(route=route, secret=secret, enabled=True, created_at=now))
        except IntegrityError:
            return False
        return True

    async def get_route(self, route: str) -> RouteRecord | None:
        row = self._first(select(routes).where(routes.c.route == route))
        return _route(row) if row else None

    async def list_routes(self) -> list[RouteRecord]:
        rows = self._all(select(routes).order_by(routes.c.route))
        return [_route(r) for r in rows]

    async def set_secret(self, route: str, secret: str) -> bool:
        return self._exec(update(routes).where(routes.c.route == route).values(secret=secret)) > 0

    async def remove_route(self, route: str) -> bool:
        now = time.time()

        def remove(conn: Connection) -> int:
            res = conn.execute(delete(routes).where(routes.c.route == route))
            # Its mailbox goes with it: expire now, the sweeper purges payloads.
            conn.execute(
                update(messages)
                .where(messages.c.recipient == route, messages.c.expires_at > now)
                .values(expires_at=now)
            )
            return int(res.rowcount)

        return self._run(remove, write=True) > 0

    # -- replay cache ----------------------------------------------------------------------
    async def use_request_key(self, key: str, expires_at: float) -> bool:
        try:
            self._exec(insert(request_keys).values(key=key, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    # -- messages --------------------------------------------------------------------------
    def new_blob(self) -> BlobWriter:
        return self.blobs.writer()

    async def find_sent(self, sender: str, message_id: str, now: float) -> list[MessageRecord]:
        query = select(messages).where(
            messages.c.sender == sender,
            messages.c.message_id == message_id,
            messages.c.expires_at > now,
            messages.c.payload_id.is_not(None),
        )
        return [_message(r) for r in self._all(query)]

    async def add_message(self, new: NewMessage, blob: BlobWriter) -> SendOutcome:
        try:
            payload_id = await blob.finish()
            outcome = self._run(lambda c: _add_message(c, new, blob, payload_id), write=True)
        except BaseException:
            await blob.discard()
            raise
        if not outcome.created:
            await blob.discard()
        return outcome

    async def list_messages(self, recipient: str, now: float) -> list[MessageRecord]:
        query = (
            select(messages)
            .where(messages.c.recipient == recipient, messages.c.expires_at > now, messages.c.payload_id.is_not(None))
            .order_by(messages.c.seq)
        )
        return [_message(r) for r in self._all(query)]

    async def get_message(self, recipient: str, link: str) -> MessageRecord | None:
        query = select(messages).where(messages.c.link == link, messages.c.recipient == recipient)
        row = self._first(query)
        return _message(row) if row else None

    async def next_message(self, recipient: str, after_seq: int, now: float) -> MessageRecord | None:
        query = (
            select(messages)
            .where(
                messages.c.recipient == recipient,
                messages.c.seq > after_seq,
                messages.c.expires_at > now,
                messages.c.payload_id.is_not(None),
            )
            .order_by(messages.c.seq)
            .limit(1)
        )
        row = self._first(query)
        return _message(row) if row else None

    def open_payload(self, payload_id: str) -> Payload:
        return self.blobs.open(payload_id)

    # -- housekeeping ----------------------------------------------------------------------
    async def sweep(self, now: float, tombstone_ttl: float) -> SweepReport:
        purged = deleted = 0
        # Batches keep each transaction (and each pause of the event loop) short.
        while True:
            n = self._run(lambda c: _purge_batch(c, now), write=True)
            purged += n
            if n < _BATCH:
                break
            await asyncio.sleep(0)
        dropped, pruned = self._run(lambda c: _drop_old(c, now, tombstone_ttl), write=True)
        while True:
            ids = self._run(_unreferenced_payloads, write=False)
            if not ids:
                break
            # File first, then row: a crash in between leaves a row without file that no
            # message points at, which the next sweep removes.
            with _guard():
                for pid in ids:
                    self.blobs.delete(pid)
            self._exec(delete(payloads).where(payloads.c.id.in_(ids)))
            deleted += len(ids)
            if len(ids) < _BATCH:
                break
            await asyncio.sleep(0)
        orphans = 0
        if now - self._last_orphan_scan >= _ORPHAN_SCAN_EVERY:
            orphans = await self._clean_orphans(now)
            self._last_orphan_scan = now
        return SweepReport(purged, dropped, deleted, pruned, orphans)

    async def _clean_orphans(self, now: float) -> int:
        """Files left by a crash between the payload rename and the database commit."""
        with _guard():
            removed = self.blobs.clean_tmp(now - _ORPHAN_GRACE)
            candidates = [pid for pid, mtime in self.blobs.stored_ids() if mtime < now - _ORPHAN_GRACE]
        for i in range(0, len(candidates), _BATCH):
            batch = candidates[i : i + _BATCH]
            known = set(self._scalars(select(payloads.c.id).where(payloads.c.id.in_(batch))))
            with _guard():
                for pid in batch:
                    if pid not in known:
                        self.blobs.delete(pid)
                        removed += 1
        return removed


def _add_message(conn: Connection, new: NewMessage, blob: BlobWriter, payload_id: str) -> SendOutcome:
    rows = conn.execute(
        select(messages).where(messages.c.sender == new.sender, messages.c.message_id == new.message_id)
    ).all()
    for row in rows:
        old = _message(row)
        if old.expired(new.received_at):
            # An expired send no longer reserves its message id.
            conn.execute(delete(messages).where(messages.c.seq == old.seq))
        elif old.recipient == new.recipient and old.md5 == blob.md5:
            return SendOutcome(old, created=False)
        else:
            raise RelayboxError(ErrorCode.MESSAGE_ID_CONFLICT)
    conn.execute(insert(payloads).values(id=payload_id, size=blob.size, md5=blob.md5, created_at=new.received_at))
    record = MessageRecord(
        seq=0,  # given by the database below
        link=new_link(),
        recipient=new.recipient,
        sender=new.sender,
        message_id=new.message_id,
        md5=blob.md5,
        size=blob.size,
        file_name=new.file_name,
        pay_for_reply=new.pay_for_reply,
        priority=new.priority,
        received_at=new.received_at,
        expires_at=new.expires_at,
        payload_id=payload_id,
    )
    values = {k: v for k, v in asdict(record).items() if k != "seq"}
    res = conn.execute(insert(messages).values(**values))
    key = res.inserted_primary_key
    assert key is not None
    record = replace(record, seq=int(key[0]))
    return SendOutcome(record, created=True)


def _purge_batch(conn: Connection, now: float) -> int:
    seqs = (
        conn.execute(
            select(messages.c.seq).where(messages.c.expires_at <= now, messages.c.payload_id.is_not(None)).limit(_BATCH)
        )
        .scalars()
        .all()
    )
    if seqs:
        conn.execute(update(messages).where(messages.c.seq.in_(seqs)).values(payload_id=None))
    return len(seqs)


def _drop_old(conn: Connection, now: float, tombstone_ttl: float) -> tuple[int, int]:
    res = conn.execute(
        delete(messages).where(messages.c.payload_id.is_(None), messages.c.expires_at <= now - tombstone_ttl)
    )
    keys = conn.execute(delete(request_keys).where(request_keys.c.expires_at < now))
    return int(res.rowcount), int(keys.rowcount)


def _unreferenced_payloads(conn: Connection) -> list[str]:
    query = select(payloads.c.id).where(~exists().where(messages.c.payload_id == payloads.c.id)).limit(_BATCH)
    return list(conn.execute(query).scalars().all())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a 200 means the commit survived power loss, not just a process crash.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _migrate(conn: Connection) -> None:
    from relaybox.store.migrate import upgrade

    upgrade(conn)


def random_secret() -> str:
    """A route secret: 192 random bits as hex, safe to paste into a shell variable."""
    return secrets.token_hex(24)


__all__: Sequence[str] = ["SqlStore", "random_secret"]
