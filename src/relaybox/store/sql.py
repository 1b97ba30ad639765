"""SqlStore: the queries every SQL backend shares (SQLAlchemy Core, async)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Row, delete, event, exists, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from relaybox.errors import ErrorCode, RelayboxError, StoreUnavailable
from relaybox.store.base import BlobWriter, MessageRecord, NewMessage, Payload, RouteRecord, SendOutcome, SweepReport
from relaybox.store.blobs import FileBlobs
from relaybox.store.schema import messages, payloads, request_keys, routes
from relaybox.wire.ids import new_link

_BATCH = 1000
# Upload temp files and unreferenced payload files younger than this are left alone: they may
# belong to a request still in flight.
_ORPHAN_GRACE = 3600.0
_ORPHAN_SCAN_EVERY = 3600.0


def async_url(url: str) -> str:
    """Map a plain database URL to the async driver SQLAlchemy should use."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


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
    """A ``Store`` on SQLAlchemy with payload files in ``data_dir``."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.blobs = FileBlobs(data_dir)
        self.engine: AsyncEngine | None = None
        self._is_sqlite = url.startswith("sqlite")
        # SQLite has one writer; queueing writers here instead of in SQLite's busy handler
        # keeps latency flat and avoids "database is locked" under load.
        self._write_lock = asyncio.Lock() if self._is_sqlite else None
        self._last_orphan_scan = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        self.blobs.prepare()
        engine = create_async_engine(async_url(self.url))
        if self._is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        self.engine = engine
        with _guard():
            async with engine.begin() as conn:
                await conn.run_sync(_migrate)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    async def ping(self) -> None:
        self.blobs.check()
        with _guard():
            async with self._eng().connect() as conn:
                await conn.execute(text("SELECT 1"))

    def _eng(self) -> AsyncEngine:
        if self.engine is None:
            raise StoreUnavailable("store is not open")
        return self.engine

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        lock = self._write_lock or contextlib.nullcontext()
        async with lock:
            with _guard():
                async with self._eng().begin() as conn:
                    yield conn

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with _guard():
            async with self._eng().connect() as conn:
                yield conn

    # -- routes ----------------------------------------------------------------------------
    async def add_route(self, route: str, secret: str, now: float) -> bool:
        try:
            async with self._write() as conn:
                await conn.execute(insert(routes).values(route=route, secret=secret, enabled=True, created_at=now))
        except IntegrityError:
            return False
        return True

    async def get_route(self, route: str) -> RouteRecord | None:
        async with self._read() as conn:
            row = (await conn.execute(select(routes).where(routes.c.route == route))).first()
        return _route(row) if row else None

    async def list_routes(self) -> list[RouteRecord]:
        async with self._read() as conn:
            rows = (await conn.execute(select(routes).order_by(routes.c.route))).all()
        return [_route(r) for r in rows]

    async def set_secret(self, route: str, secret: str) -> bool:
        async with self._write() as conn:
            res = await conn.execute(update(routes).where(routes.c.route == route).values(secret=secret))
        return res.rowcount > 0

    async def remove_route(self, route: str) -> bool:
        now = time.time()
        async with self._write() as conn:
            res = await conn.execute(delete(routes).where(routes.c.route == route))
            # Its mailbox goes with it: expire now, the sweeper purges payloads.
            await conn.execute(
                update(messages)
                .where(messages.c.recipient == route, messages.c.expires_at > now)
                .values(expires_at=now)
            )
        return res.rowcount > 0

    # -- replay cache ----------------------------------------------------------------------
    async def use_request_key(self, key: str, expires_at: float) -> bool:
        try:
            async with self._write() as conn:
                await conn.execute(insert(request_keys).values(key=key, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    # -- messages --------------------------------------------------------------------------
    def new_blob(self) -> BlobWriter:
        return self.blobs.writer()

    async def find_sent(self, sender: str, message_id: str, now: float) -> list[MessageRecord]:
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    select(messages).where(
                        messages.c.sender == sender,
                        messages.c.message_id == message_id,
                        messages.c.expires_at > now,
                        messages.c.payload_id.is_not(None),
                    )
                )
            ).all()
        return [_message(r) for r in rows]

    async def add_message(self, new: NewMessage, blob: BlobWriter) -> SendOutcome:
        payload_id = await blob.finish()
        try:
            async with self._write() as conn:
                rows = (
                    await conn.execute(
                        select(messages).where(messages.c.sender == new.sender, messages.c.message_id == new.message_id)
                    )
                ).all()
                for row in rows:
                    old = _message(row)
                    if old.expired(new.received_at):
                        # An expired send no longer reserves its message id.
                        await conn.execute(delete(messages).where(messages.c.seq == old.seq))
                    elif old.recipient == new.recipient and old.md5 == blob.md5:
                        await blob.discard()
                        return SendOutcome(old, created=False)
                    else:
                        raise RelayboxError(ErrorCode.MESSAGE_ID_CONFLICT)
                await conn.execute(
                    insert(payloads).values(id=payload_id, size=blob.size, md5=blob.md5, created_at=new.received_at)
                )
                values = dict(
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
                res = await conn.execute(insert(messages).values(**values))
                seq = res.inserted_primary_key[0] if res.inserted_primary_key else None
        except BaseException:
            await blob.discard()
            raise
        return SendOutcome(MessageRecord(seq=int(seq), **values), created=True)  # type: ignore[arg-type]

    async def list_messages(self, recipient: str, now: float) -> list[MessageRecord]:
        async with self._read() as conn:
            rows = (
                await conn.execute(
                    select(messages)
                    .where(
                        messages.c.recipient == recipient,
                        messages.c.expires_at > now,
                        messages.c.payload_id.is_not(None),
                    )
                    .order_by(messages.c.seq)
                )
            ).all()
        return [_message(r) for r in rows]

    async def get_message(self, recipient: str, link: str) -> MessageRecord | None:
        async with self._read() as conn:
            row = (
                await conn.execute(select(messages).where(messages.c.link == link, messages.c.recipient == recipient))
            ).first()
        return _message(row) if row else None

    async def next_message(self, recipient: str, after_seq: int, now: float) -> MessageRecord | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
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
            ).first()
        return _message(row) if row else None

    def open_payload(self, payload_id: str) -> Payload:
        return self.blobs.open(payload_id)

    # -- housekeeping ----------------------------------------------------------------------
    async def sweep(self, now: float, tombstone_ttl: float) -> SweepReport:
        purged = dropped = deleted = pruned = orphans = 0
        while True:
            async with self._write() as conn:
                seqs = (
                    (
                        await conn.execute(
                            select(messages.c.seq)
                            .where(messages.c.expires_at <= now, messages.c.payload_id.is_not(None))
                            .limit(_BATCH)
                        )
                    )
                    .scalars()
                    .all()
                )
                if seqs:
                    await conn.execute(update(messages).where(messages.c.seq.in_(seqs)).values(payload_id=None))
            purged += len(seqs)
            if len(seqs) < _BATCH:
                break
        async with self._write() as conn:
            res = await conn.execute(
                delete(messages).where(messages.c.payload_id.is_(None), messages.c.expires_at <= now - tombstone_ttl)
            )
            dropped = res.rowcount
            res = await conn.execute(delete(request_keys).where(request_keys.c.expires_at < now))
            pruned = res.rowcount
        while True:
            async with self._read() as conn:
                ids = (
                    (
                        await conn.execute(
                            select(payloads.c.id)
                            .where(~exists().where(messages.c.payload_id == payloads.c.id))
                            .limit(_BATCH)
                        )
                    )
                    .scalars()
                    .all()
                )
            if not ids:
                break
            # File first, then row: a crash in between leaves a row without file that no
            # message points at, which the next sweep removes.
            with _guard():
                for pid in ids:
                    self.blobs.delete(pid)
            async with self._write() as conn:
                await conn.execute(delete(payloads).where(payloads.c.id.in_(ids)))
            deleted += len(ids)
            if len(ids) < _BATCH:
                break
        if now - self._last_orphan_scan >= _ORPHAN_SCAN_EVERY:
            orphans = await self._clean_orphans(now)
            self._last_orphan_scan = now
        return SweepReport(purged, dropped, deleted, pruned, orphans)

    async def _clean_orphans(self, now: float) -> int:
        """Files left by a crash between the payload rename and the database commit."""
        removed = self.blobs.clean_tmp(now - _ORPHAN_GRACE)
        candidates = [(pid, mtime) for pid, mtime in self.blobs.stored_ids() if mtime < now - _ORPHAN_GRACE]
        for i in range(0, len(candidates), _BATCH):
            batch = candidates[i : i + _BATCH]
            async with self._read() as conn:
                known = set(
                    (
                        await conn.execute(select(payloads.c.id).where(payloads.c.id.in_([p for p, _ in batch])))
                    ).scalars()
                )
            for pid, _ in batch:
                if pid not in known:
                    self.blobs.delete(pid)
                    removed += 1
        return removed


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a 200 means the commit survived power loss, not just a process crash.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _migrate(sync_conn: Any) -> None:
    from relaybox.store.migrate import upgrade

    upgrade(sync_conn)


def random_secret() -> str:
    """A route secret: 192 random bits as hex, safe to paste into a shell variable."""
    return secrets.token_hex(24)


__all__: Sequence[str] = ["SqlStore", "async_url", "random_secret"]
