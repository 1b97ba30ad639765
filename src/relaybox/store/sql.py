"""SqlStore: the queries every SQL backend shares (SQLAlchemy Core).

Every query is a plain function of a ``Db`` (``relaybox.store.db``); a backend only says how
such a function runs (``_q``): inline on the raw sqlite3 connection on SQLite, through
``run_sync`` on an asyncpg connection for PostgreSQL. Both run the same statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, exists, false, func, insert, literal_column, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.sql import Executable

from relaybox.auth.sealed import PREFIX as SEALED
from relaybox.auth.sealed import Sealer, SealError
from relaybox.errors import ErrorCode, RelayboxError, StoreUnavailable
from relaybox.store import events, fanout
from relaybox.store.accounts import AccountStore, drop_station
from relaybox.store.addressbook import AddressBookStore
from relaybox.store.apikeys import ApiKeyStore
from relaybox.store.base import BlobWriter, MessageRecord, NewMessage, Payload, RouteRecord, SendOutcome, SweepReport
from relaybox.store.db import Db
from relaybox.store.fanout import FanoutFile, FanoutOutcome
from relaybox.store.outbox import OutboxStore, add_push, expire_undelivered
from relaybox.store.partners import PartnerStore, resolve_pair
from relaybox.store.schema import (
    api_keys,
    attachments,
    fanouts,
    messages,
    partners,
    payload_chunks,
    payloads,
    request_keys,
    routes,
)
from relaybox.store.schema import webhooks as webhook_endpoints
from relaybox.store.views import MessageExtras, ViewStore, drop_related, import_extras
from relaybox.store.webhooks import WebhookStore
from relaybox.wire.ids import new_link

T = TypeVar("T")
BATCH = 1000
# Upload leftovers and unreferenced payload data younger than this are left alone: they may
# belong to a request still in flight.
ORPHAN_GRACE = 3600.0
_ORPHAN_SCAN_EVERY = 3600.0


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Turn driver and disk failures into 503 code 503; integrity errors pass through."""
    try:
        yield
    except IntegrityError:
        raise
    except (OperationalError, DBAPIError) as exc:
        raise StoreUnavailable(f"database unavailable: {_reason(exc)}") from None
    except PoolTimeout:
        # Every pooled connection stayed busy for pool_timeout: overload (a burst of thousands
        # of requests), not an outage; the client should come back in a moment.
        raise StoreUnavailable("database busy: no free connection, retry", retry_after=1) from None
    except (TimeoutError, ConnectionError) as exc:
        raise StoreUnavailable(f"database unavailable: {type(exc).__name__}") from None
    except OSError as exc:
        raise StoreUnavailable(f"storage unavailable: {exc.strerror or type(exc).__name__}") from None


def _reason(exc: DBAPIError) -> str:
    """What a 503 says about a driver error. SQLite's own message names the cause ("database
    or disk is full", "attempt to write a readonly database") and holds nothing private; a
    database server's may (host names, users): its type only."""
    orig = exc.orig
    if orig is None:
        return str(exc)
    if isinstance(orig, sqlite3.Error):
        return f"{type(orig).__name__} ({orig})"
    return type(orig).__name__


# Hot statements are built once: SQLAlchemy memoizes a statement object's cache key, so reusing
# one skips both construction and key generation (together most of the CPU of a query here).
_SELECT_1 = text("SELECT 1")
_GET_ROUTE = select(routes).where(routes.c.route == bindparam("route"))
_USE_KEY = insert(request_keys)
_KEY_USED = select(request_keys.c.key).where(request_keys.c.key == bindparam("key"))
_FIND_SENT = select(messages).where(
    messages.c.sender == bindparam("sender"),
    messages.c.message_id == bindparam("message_id"),
    messages.c.expires_at > bindparam("now"),
    messages.c.payload_id.is_not(None),
)
_SENT_ANY = select(messages).where(
    messages.c.sender == bindparam("sender"), messages.c.message_id == bindparam("message_id")
)
_INSERT_PAYLOAD = insert(payloads)
_INSERT_CHUNK = insert(payload_chunks)
_INSERT_MESSAGE = insert(messages)
# In a route's mailbox: delivered (not queued or stopped) and not deleted by the receiver (/v1).
# (A literal, not a bound value: the hot statements stay free of values of their own.)
_IN_MAILBOX = (messages.c.state == literal_column("'sent'"), messages.c.receiver_deleted.is_(false()))
_LIST = (
    select(messages)
    .where(
        messages.c.recipient == bindparam("recipient"),
        messages.c.expires_at > bindparam("now"),
        messages.c.payload_id.is_not(None),
        *_IN_MAILBOX,
    )
    .order_by(messages.c.seq)
)
_USAGE = select(func.count(), func.sum(messages.c.size)).where(
    messages.c.recipient == bindparam("recipient"),
    messages.c.expires_at > bindparam("now"),
    messages.c.payload_id.is_not(None),
    *_IN_MAILBOX,
)
_GET = select(messages).where(
    messages.c.link == bindparam("link"), messages.c.recipient == bindparam("recipient"), *_IN_MAILBOX
)
_NEXT = (
    select(messages)
    .where(
        messages.c.recipient == bindparam("recipient"),
        messages.c.seq > bindparam("after"),
        messages.c.expires_at > bindparam("now"),
        messages.c.payload_id.is_not(None),
        *_IN_MAILBOX,
    )
    .order_by(messages.c.seq)
    .limit(1)
)


def message_from_row(row: Sequence[Any]) -> MessageRecord:
    # Positional: ``select(messages)`` yields the table's columns in the order of schema.py.
    (seq, link, recipient, sender, message_id, md5, size, file_name, pfr, priority, received, expires, pid,
     subject, ctype, sha256, count, state, s_del, r_del, s_type, r_type, receipt_req, receipt_at, delivered_at, read_at, fanout) = row  # fmt: skip
    return MessageRecord(
        seq=seq,
        link=link,
        recipient=recipient,
        sender=sender,
        message_id=message_id,
        md5=md5,
        size=size,
        file_name=file_name,
        pay_for_reply=bool(pfr),
        priority=priority,
        received_at=received,
        expires_at=expires,
        payload_id=pid,
        subject=subject,
        content_type=ctype,
        sha256=sha256,
        attachment_count=count,
        state=state,
        sender_deleted=bool(s_del),
        receiver_deleted=bool(r_del),
        sender_type=s_type,
        receiver_type=r_type,
        receipt_requested=bool(receipt_req),
        receipt_at=receipt_at,
        delivered_at=delivered_at,
        read_at=read_at,
        fanout=fanout,
    )


def _route(row: Sequence[Any], sealer: Sealer) -> RouteRecord:
    route, secret, enabled, created_at, require_signature = row
    return RouteRecord(
        route=route,
        secret=sealer.open(secret),
        enabled=bool(enabled),
        created_at=created_at,
        require_signature=bool(require_signature),
    )


# Every column holding a secret sealed with RELAYBOX_MASTER_KEY: (table, key, column).
_SEALED_COLUMNS = (
    (routes, routes.c.route, routes.c.secret),
    (api_keys, api_keys.c.public_key, api_keys.c.private_key),
    (webhook_endpoints, webhook_endpoints.c.id, webhook_endpoints.c.secret),
    (partners, partners.c.id, partners.c.remote_secret),
    (partners, partners.c.id, partners.c.push_secret),
)


class SqlStore:
    """The shared half of every SQL ``Store``; subclasses provide the engine, ``_q`` and payloads."""

    dialect = "sqlite"
    # Whether a request key may be held in this process's memory while the database refuses
    # writes (``use_request_key``). Only where the process's own disk is at fault (SQLite); for a
    # shared database it would let a key spent on one node pass on another.
    hold_keys_in_memory = False

    def __init__(self) -> None:
        self._last_orphan_scan = 0.0
        # Request keys spent while the database refused writes: key -> expiry (use_request_key).
        self._held_keys: dict[str, float] = {}
        # Route secrets at rest: sealed with RELAYBOX_MASTER_KEY when set (make_store).
        self.sealer = Sealer(None)
        # The management API's queries, run by this store's ``_q``.
        self.accounts = AccountStore(self._q)
        self.partners = PartnerStore(self._q, lambda: self.sealer)
        self.views = ViewStore(self)
        self.webhooks = WebhookStore(self._q, lambda: self.sealer)
        self.apikeys = ApiKeyStore(self._q, lambda: self.sealer)
        self.outbox = OutboxStore(self)
        self.addressbook = AddressBookStore(self._q)

    # -- what a backend provides -----------------------------------------------------------
    async def _q(self, fn: Callable[[Db], T], *, write: bool, fsync: bool = True) -> T:
        """Run ``fn`` in a transaction of its own (``write``) or as a read. ``fsync=False``
        marks a write that must survive a crash of the server process but may be lost with
        the machine's power (a used request key); a backend may commit it without an fsync."""
        raise NotImplementedError

    def new_blob(self) -> BlobWriter:
        raise NotImplementedError

    async def open_payload(self, payload_id: str) -> Payload:
        raise NotImplementedError

    async def _delete_payloads(self, ids: list[str]) -> None:
        """Delete payload rows and their bytes (only ever called for unreferenced payloads)."""
        raise NotImplementedError

    async def _clean_orphans(self, now: float) -> int:
        """Payload bytes that no committed payload row owns (crash leftovers)."""
        raise NotImplementedError

    def on_commit(self, listener: Callable[[str], None]) -> None:
        pass  # see SqliteStore; elsewhere the exchange wakes waiters after the send returns

    def _after_insert(self, db: Db, recipient: str) -> None:
        """Hook inside the send transaction (PostgreSQL queues its cross-node NOTIFY here)."""

    def _store_payload(self, db: Db, payload_id: str, blob: BlobWriter, created_at: float) -> None:
        """Hook inside the send transaction, after the payload row (SQLite stores small payloads here)."""

    def _add_payload(self, db: Db, payload_id: str, blob: BlobWriter, created_at: float) -> None:
        """The payload row of a finished blob (and, by the backend's hook, its inline bytes):
        every way a message is stored (send, /v1 send, fan-out, import) goes through here."""
        db.run(_INSERT_PAYLOAD, {"id": payload_id, "size": blob.size, "md5": blob.md5, "created_at": created_at})
        self._store_payload(db, payload_id, blob, created_at)

    # -- small helpers -----------------------------------------------------------------------
    async def _exec(self, statement: Executable) -> int:
        """Run one write statement in its own transaction; the number of rows it touched."""
        return await self._q(lambda db: db.run(statement), write=True)

    async def _all(self, query: Executable) -> Sequence[Sequence[Any]]:
        return await self._q(lambda db: db.all(query), write=False)

    async def _first(self, query: Executable) -> Sequence[Any] | None:
        return await self._q(lambda db: db.first(query), write=False)

    async def _scalars(self, query: Executable) -> list[Any]:
        return [row[0] for row in await self._all(query)]

    async def ping(self) -> None:
        await self._q(lambda db: db.first(_SELECT_1), write=False)

    # -- routes ----------------------------------------------------------------------------
    async def add_route(self, route: str, secret: str, now: float, *, require_signature: bool = False) -> bool:
        statement = insert(routes).values(
            route=route,
            secret=self.sealer.seal(secret),
            enabled=True,
            created_at=now,
            require_signature=require_signature,
        )
        try:
            await self._exec(statement)
        except IntegrityError:
            return False
        return True

    async def get_route(self, route: str) -> RouteRecord | None:
        row = await self._q(lambda db: db.first(_GET_ROUTE, {"route": route}), write=False)
        return _route(row, self.sealer) if row else None

    async def list_routes(self) -> list[RouteRecord]:
        return [_route(r, self.sealer) for r in await self._all(select(routes).order_by(routes.c.route))]

    async def set_secret(self, route: str, secret: str) -> bool:
        sealed = self.sealer.seal(secret)
        return await self._exec(update(routes).where(routes.c.route == route).values(secret=sealed)) > 0

    async def check_sealed(self) -> None:
        """Refuse (503, with the reason) a store whose sealed secrets this key cannot open:
        better than every request failing its signature check."""
        for column in _SEALED_COLUMNS:
            row = await self._first(select(column[2]).where(column[2].startswith(SEALED)).limit(1))
            if row is not None:
                try:
                    self.sealer.open(row[0])
                except SealError as exc:
                    raise StoreUnavailable(str(exc)) from None
                return

    async def reseal_secrets(self) -> int:
        """Seal every stored secret (route secrets, API private keys, webhook endpoint secrets,
        partners' remote and push secrets) with the first master key, plaintext ones too; the
        number rewritten (``relaybox keys rotate``)."""

        def reseal(db: Db) -> int:
            changed = 0
            for table, key, column in _SEALED_COLUMNS:
                for name, stored in db.all(select(key, column).where(column.is_not(None))):
                    fresh = self.sealer.reseal(stored)
                    if fresh != stored:
                        db.run(update(table).where(key == name).values({column.key: fresh}))
                        changed += 1
            return changed

        return await self._q(reseal, write=True)

    async def set_require_signature(self, route: str, required: bool) -> bool:
        statement = update(routes).where(routes.c.route == route).values(require_signature=required)
        return await self._exec(statement) > 0

    async def remove_route(self, route: str) -> bool:
        now = time.time()

        def remove(db: Db) -> int:
            removed = db.run(delete(routes).where(routes.c.route == route))
            # It stops being a station, and its partner records go (its messages stay).
            drop_station(db, route)
            db.run(delete(partners).where(partners.c.station == route))
            # Its mailbox goes with it: expire now, the sweeper purges payloads. Messages still
            # queued for it stay: a retry records the failed delivery (/v1 failed list).
            db.run(
                update(messages)
                .where(messages.c.recipient == route, messages.c.expires_at > now, *_IN_MAILBOX)
                .values(expires_at=now)
            )
            return removed

        return await self._q(remove, write=True) > 0

    # -- replay cache ----------------------------------------------------------------------
    async def use_request_key(self, key: str, expires_at: float) -> bool:
        if self._held_keys:
            now = time.time()
            self._held_keys = {k: t for k, t in self._held_keys.items() if t > now}
            if key in self._held_keys:
                return False
        try:
            # Without fsync: a replay is refused after any restart of relaybox; only a power
            # loss inside the timestamp window could forget a key (docs/performance.md).
            await self._q(lambda db: db.run(_USE_KEY, {"key": key, "expires_at": expires_at}), write=True, fsync=False)
        except IntegrityError:
            return False
        except StoreUnavailable:
            if not self.hold_keys_in_memory:
                raise
            # The database cannot write (a full or read-only disk) but may still read: every
            # call spends a key, so refusing here would take the reads down with the sends.
            # Held in memory until a write works again; a read that fails too is a 503 as before.
            used = await self._q(lambda db: db.first(_KEY_USED, {"key": key}), write=False)
            # Checked again after the awaits: a twin request may have held it meanwhile.
            if used is not None or key in self._held_keys:
                return False
            self._held_keys[key] = expires_at
            return True
        if self._held_keys:
            await self._flush_held_keys()
        return True

    async def _flush_held_keys(self) -> None:
        """Store the keys spent while the database could not write: they stay refused after a
        restart too. They stay held (refused from memory) until stored; a failed write leaves
        them for the next try."""
        held = dict(self._held_keys)

        def store(db: Db) -> None:
            for k, t in held.items():
                if db.first(_KEY_USED, {"key": k}) is None:
                    db.run(_USE_KEY, {"key": k, "expires_at": t})

        try:
            await self._q(store, write=True, fsync=False)
        except (IntegrityError, StoreUnavailable):
            return
        for k in held:
            self._held_keys.pop(k, None)

    # -- messages --------------------------------------------------------------------------
    async def find_sent(self, sender: str, message_id: str, now: float) -> list[MessageRecord]:
        params = {"sender": sender, "message_id": message_id, "now": now}
        rows = await self._q(lambda db: db.all(_FIND_SENT, params), write=False)
        return [message_from_row(r) for r in rows]

    async def add_message(self, new: NewMessage, blob: BlobWriter) -> SendOutcome:
        try:
            payload_id = await blob.finish()
            try:
                outcome = await self._q(lambda db: self._add_message(db, new, blob, payload_id), write=True)
            except IntegrityError:
                # The same sender + message id committed concurrently (another request, or
                # another node): now that it is visible, answer as an idempotent re-send would.
                outcome = await self._q(lambda db: self._add_message(db, new, blob, payload_id), write=True)
        except BaseException:
            await blob.discard()
            raise
        if not outcome.created:
            await blob.discard()
        return outcome

    def _add_message(self, db: Db, new: NewMessage, blob: BlobWriter, payload_id: str) -> SendOutcome:
        rows = db.all(_SENT_ANY, {"sender": new.sender, "message_id": new.message_id})
        for row in rows:
            old = message_from_row(row)
            if old.expired(new.received_at):
                # An expired send no longer reserves its message id.
                db.run(delete(messages).where(messages.c.seq == old.seq))
            elif old.recipient == new.recipient and old.md5 == blob.md5:
                return SendOutcome(old, created=False)
            else:
                raise RelayboxError(ErrorCode.MESSAGE_ID_CONFLICT)
        # Partner resolution (/v1), fixed at commit: each side's record for the other route.
        outgoing, incoming = resolve_pair(db, new.sender, new.recipient)
        if incoming is not None and incoming.pause_incoming:
            # The receiver paused this sender: refused like an unknown recipient (no leak).
            raise RelayboxError(ErrorCode.RECIPIENT_NOT_FOUND)
        self._add_payload(db, payload_id, blob, new.received_at)
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
            sha256=blob.sha256,
            sender_type=outgoing.partner_type if outgoing else "Production",
            receiver_type=incoming.partner_type if incoming else "Production",
            receipt_requested=outgoing.request_mdn if outgoing else False,
        )
        if outgoing is not None and outgoing.uri is not None:
            # A remote partner: queued for the outbox, in no local mailbox.
            record = replace(record, state="queued")
            record = replace(record, seq=db.insert(_INSERT_MESSAGE, message_values(record)))
            add_push(db, record.link, new.received_at)
            events.on_send(db, record, new.received_at, outgoing.transport)
            return SendOutcome(record, created=True)
        record = replace(record, seq=db.insert(_INSERT_MESSAGE, message_values(record)))
        events.on_send(db, record, new.received_at)
        self._after_insert(db, new.recipient)
        return SendOutcome(record, created=True)

    async def add_fanout(
        self,
        template: MessageRecord,
        blobs: Sequence[tuple[BlobWriter, str, str]],
        members: Sequence[tuple[str | None, int]],
    ) -> FanoutOutcome:
        """Send one message to every member route of a list: ``template`` has the sender, the
        message id, dates and flags, and the target (``list:<id>``) as its recipient; ``blobs``
        are the files (blob, name, content type) in order. The payloads are stored once. A
        repeated /1 send (same sender, id, target and MD5) gets the first answer and adds
        nothing. The caller discards the blobs on error."""
        payload_ids = [await b.finish() for b, _, _ in blobs]
        files = [
            FanoutFile(pid, name, b.size, b.md5, b.sha256, ctype)
            for pid, (b, name, ctype) in zip(payload_ids, blobs, strict=True)
        ]
        first = files[0]
        template = replace(
            template,
            md5=first.md5,
            size=first.size,
            file_name=first.name,
            payload_id=first.payload_id,
            sha256=first.sha256,
            content_type=first.content_type,
            attachment_count=len(files),
        )
        by_id = {f.payload_id: b for f, (b, _, _) in zip(files, blobs, strict=True)}

        def run(db: Db) -> FanoutOutcome:
            earlier = fanout.previous(
                db, template.sender, template.message_id, template.recipient, template.md5, template.received_at
            )
            if earlier is not None:
                return FanoutOutcome(earlier, False, [])
            result, copies = fanout.fan_out(
                db,
                template,
                files,
                members,
                add_payload=lambda d, f: self._add_payload(d, f.payload_id, by_id[f.payload_id], template.received_at),
                after_insert=self._after_insert,
            )
            fanout.remember(db, template, result)
            return FanoutOutcome(result, True, copies)

        outcome = await self._q(run, write=True)
        if not outcome.created:
            for b, _, _ in blobs:
                await b.discard()
        return outcome

    async def mailbox_usage(self, recipient: str, now: float) -> tuple[int, int]:
        """(messages, bytes) in the route's mailbox, unexpired (for the storage quota)."""
        row = await self._q(lambda db: db.first(_USAGE, {"recipient": recipient, "now": now}), write=False)
        return (int(row[0]), int(row[1] or 0)) if row else (0, 0)

    async def list_messages(self, recipient: str, now: float) -> list[MessageRecord]:
        rows = await self._q(lambda db: db.all(_LIST, {"recipient": recipient, "now": now}), write=False)
        return [message_from_row(r) for r in rows]

    async def get_message(self, recipient: str, link: str) -> MessageRecord | None:
        row = await self._q(lambda db: db.first(_GET, {"link": link, "recipient": recipient}), write=False)
        return message_from_row(row) if row else None

    async def next_message(self, recipient: str, after_seq: int, now: float) -> MessageRecord | None:
        params = {"recipient": recipient, "after": after_seq, "now": now}
        row = await self._q(lambda db: db.first(_NEXT, params), write=False)
        return message_from_row(row) if row else None

    async def messages_after(self, after_seq: int, now: float, limit: int = BATCH) -> list[MessageRecord]:
        """Every route's unexpired messages in arrival order (for ``relaybox db copy``)."""
        query = (
            select(messages)
            .where(messages.c.seq > after_seq, messages.c.expires_at > now, messages.c.payload_id.is_not(None))
            .order_by(messages.c.seq)
            .limit(limit)
        )
        return [message_from_row(r) for r in await self._all(query)]

    async def import_message(
        self,
        record: MessageRecord,
        blob: BlobWriter,
        extras: MessageExtras | None = None,
        extra_blobs: Sequence[BlobWriter] = (),
    ) -> bool:
        """Store a message copied from another store, keeping its link and dates (clients'
        cursors stay valid) and, with ``extras``, its other attachments (``extra_blobs``, in
        order), receipt, failure entries and read marks. False, and nothing stored, when that
        link is already here."""
        blobs = [blob, *extra_blobs]

        def add(db: Db) -> bool:
            if db.first(select(messages.c.seq).where(messages.c.link == record.link)) is not None:
                return False
            for pid, b in zip(payload_ids, blobs, strict=True):
                self._add_payload(db, pid, b, record.received_at)
            db.insert(_INSERT_MESSAGE, message_values(replace(record, payload_id=payload_ids[0])))
            if extras is not None:
                import_extras(db, record.link, extras, payload_ids[1:])
            if record.state == "sent" and not record.receiver_deleted:
                self._after_insert(db, record.recipient)
            return True

        try:
            payload_ids = [await b.finish() for b in blobs]
            added = await self._q(add, write=True)
        except BaseException:
            for b in blobs:
                await b.discard()
            raise
        if not added:
            for b in blobs:
                await b.discard()
        return added

    # -- housekeeping ----------------------------------------------------------------------
    async def sweep(self, now: float, tombstone_ttl: float) -> SweepReport:
        """Safe to run on every node at once: each batch claims its rows with SKIP LOCKED (a
        no-op on SQLite, where the one writer already serializes sweeps)."""
        purged = deleted = 0
        # Batches keep each transaction (and, on SQLite, each pause of the event loop) short.
        while True:
            n = await self._q(lambda db: _purge_batch(db, now), write=True)
            purged += n
            if n < BATCH:
                break
            await asyncio.sleep(0)
        dropped, pruned = await self._q(lambda db: _drop_old(db, now, tombstone_ttl), write=True)
        while True:
            ids = await self._q(_unreferenced_payloads, write=False)
            if not ids:
                break
            await self._delete_payloads(ids)
            deleted += len(ids)
            if len(ids) < BATCH:
                break
            await asyncio.sleep(0)
        orphans = 0
        if now - self._last_orphan_scan >= _ORPHAN_SCAN_EVERY:
            orphans = await self._clean_orphans(now)
            self._last_orphan_scan = now
        return SweepReport(purged, dropped, deleted, pruned, orphans)

    async def known_payloads(self, ids: list[str]) -> set[str]:
        return set(await self._scalars(select(payloads.c.id).where(payloads.c.id.in_(ids))))


def message_values(record: MessageRecord) -> dict[str, Any]:
    return {
        "link": record.link,
        "recipient": record.recipient,
        "sender": record.sender,
        "message_id": record.message_id,
        "md5": record.md5,
        "size": record.size,
        "file_name": record.file_name,
        "pay_for_reply": record.pay_for_reply,
        "priority": record.priority,
        "received_at": record.received_at,
        "expires_at": record.expires_at,
        "payload_id": record.payload_id,
        "subject": record.subject,
        "content_type": record.content_type,
        "sha256": record.sha256,
        "attachment_count": record.attachment_count,
        "state": record.state,
        "sender_deleted": record.sender_deleted,
        "receiver_deleted": record.receiver_deleted,
        "sender_type": record.sender_type,
        "receiver_type": record.receiver_type,
        "receipt_requested": record.receipt_requested,
        "receipt_at": record.receipt_at,
        "delivered_at": record.delivered_at,
        "read_at": record.read_at,
        "fanout": record.fanout,
    }


def _purge_batch(db: Db, now: float) -> int:
    query = (
        select(messages)
        .where(messages.c.expires_at <= now, messages.c.payload_id.is_not(None))
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    rows = [message_from_row(r) for r in db.all(query)]
    if rows:
        db.run(update(messages).where(messages.c.seq.in_([m.seq for m in rows])).values(payload_id=None))
        # Extra attachments go too, so that their payloads become unreferenced.
        db.run(delete(attachments).where(attachments.c.link.in_([m.link for m in rows])))
        expire_undelivered(db, [m for m in rows if m.delivered_at is None], now)
    return len(rows)


def _drop_old(db: Db, now: float, tombstone_ttl: float) -> tuple[int, int]:
    old = (messages.c.payload_id.is_(None), messages.c.expires_at <= now - tombstone_ttl)
    dropped = 0
    while links := [row[0] for row in db.all(select(messages.c.link).where(*old).limit(BATCH))]:
        drop_related(db, links)
        dropped += db.run(delete(messages).where(messages.c.link.in_(links)))
    keys = db.run(delete(request_keys).where(request_keys.c.expires_at < now))
    db.run(delete(fanouts).where(fanouts.c.expires_at <= now))  # their messages are gone too
    return dropped, keys


def _unreferenced_payloads(db: Db) -> list[str]:
    query = (
        select(payloads.c.id)
        .where(
            ~exists().where(messages.c.payload_id == payloads.c.id),
            ~exists().where(attachments.c.payload_id == payloads.c.id),
        )
        .limit(BATCH)
    )
    return [row[0] for row in db.all(query)]


def insert_chunk(db: Db, payload_id: str, seq: int, data: bytes, created_at: float) -> None:
    """One row of a payload's bytes: SQLite's payloads kept in the database, PostgreSQL's chunks."""
    db.run(_INSERT_CHUNK, {"payload_id": payload_id, "seq": seq, "data": data, "created_at": created_at})


def random_secret() -> str:
    """A route secret: 192 random bits as hex, safe to paste into a shell variable."""
    return secrets.token_hex(24)


__all__: Sequence[str] = [
    "BATCH",
    "ORPHAN_GRACE",
    "SqlStore",
    "guard",
    "insert_chunk",
    "message_from_row",
    "message_values",
    "random_secret",
]
