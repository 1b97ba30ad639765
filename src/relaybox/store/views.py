"""Message views of the management API (/v1): the receiver's and the sender's view of each
message, the failed list, read state, receipts, and the sending state (queued/stopped/sent).

A message is one ``messages`` row (attachment 0, the receiver's mailbox entry) plus its extra
``attachments``. Each side deletes its own view; the row goes when both have (or when an
undelivered message is deleted), and the sweeper then purges payloads nothing points at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from relaybox.store import events
from relaybox.store.base import AttachmentRecord, BlobWriter, FailureRecord, MessageRecord
from relaybox.store.db import Db
from relaybox.store.outbox import add_push, hurry_push, restart_push, stop_push
from relaybox.store.partners import like_escape
from relaybox.store.schema import attachments, deliveries, failures, messages, reads, receipts, routes
from relaybox.store.schema import partners as partners_t

if TYPE_CHECKING:
    from relaybox.store.sql import SqlStore

KINDS = ("received", "sent", "queued", "failed")
_SENT: ColumnElement[str] = literal_column("'sent'")
_QUEUED: ColumnElement[str] = literal_column("'queued'")
_STOPPED: ColumnElement[str] = literal_column("'stopped'")


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """A /v1 list (or, with ``link``, one message) as the store runs it."""

    kind: str  # received | sent | queued | failed
    stations: tuple[str, ...]  # the caller's, already narrowed by stationAS2Id
    account_id: int
    now: float
    partner_type: str | None = "Production"  # None: any (get by id)
    sort_col: str = "persistedTimestamp"
    descending: bool = True
    offset: int = 0
    limit: int = 10
    partner: str | None = None
    message_id: str | None = None
    subject: str | None = None
    unread_only: bool = False
    query: str | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True)
class MessageView:
    message: MessageRecord
    attachments: list[AttachmentRecord]
    read: bool = False
    failure: FailureRecord | None = None
    pushed_status: int | None = None  # a message pushed to a remote partner: the 2xx it got


@dataclass(frozen=True, slots=True)
class NewFile:
    """One attachment of a /v1 send: its finished blob, name and content type."""

    blob: BlobWriter
    name: str
    content_type: str


@dataclass(frozen=True, slots=True)
class MessageExtras:
    """What a message has beyond its row (``relaybox db copy``)."""

    attachments: list[AttachmentRecord]  # index 1.., with the source's payload ids
    receipt: str | None
    failures: list[FailureRecord]
    readers: list[str]  # emails of the accounts that marked it read


def first_attachment(m: MessageRecord) -> AttachmentRecord:
    return AttachmentRecord(0, m.file_name, m.size, m.md5, m.sha256, m.content_type, m.payload_id)


def _conditions(q: ViewQuery) -> list[ColumnElement[bool]]:
    m = messages.c
    conds: list[ColumnElement[bool]] = [m.expires_at > q.now, m.payload_id.is_not(None)]
    stations = list(q.stations)
    if q.kind == "received":
        conds += [m.recipient.in_(stations), m.state == _SENT, m.receiver_deleted.is_(false())]
        type_col, other = m.receiver_type, m.sender
    elif q.kind == "sent":
        conds += [m.sender.in_(stations), m.state == _SENT, m.sender_deleted.is_(false())]
        type_col, other = m.sender_type, m.recipient
    elif q.kind == "queued":
        conds += [m.sender.in_(stations), m.state.in_([_QUEUED, _STOPPED])]
        type_col, other = m.sender_type, m.recipient
    else:  # failed
        conds += [m.sender.in_(stations), m.sender_deleted.is_(false())]
        type_col, other = m.sender_type, m.recipient
    if q.partner_type is not None:
        conds.append(type_col == q.partner_type)
    if q.link is not None:
        conds.append(m.link == q.link)
    if q.kind == "queued":
        if q.query:
            conds.append(
                or_(
                    m.sender == q.query,
                    m.recipient == q.query,
                    m.link == q.query,
                    m.message_id == q.query,
                    _subject_like(q.query),
                )
            )
        return conds
    if q.partner is not None:
        conds.append(other == q.partner)
    if q.message_id is not None:
        conds.append(or_(m.link == q.message_id, m.message_id == q.message_id))
    if q.subject:
        conds.append(_subject_like(q.subject))
    if q.unread_only and q.kind == "received":
        conds.append(~exists().where(reads.c.account_id == q.account_id, reads.c.link == m.link))
    return conds


def _subject_like(text: str) -> ColumnElement[bool]:
    return messages.c.subject.ilike("%" + like_escape(text) + "%", escape="\\")


_MARK_DOWNLOADED = (
    update(messages)
    .where(messages.c.link == bindparam("marked"), messages.c.delivered_at.is_(None))
    .values(delivered_at=bindparam("at"))
)


class ViewStore:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._q = store._q

    # -- reading -----------------------------------------------------------------------------
    async def page(self, q: ViewQuery) -> tuple[int, list[MessageView]]:
        """(total matches, the requested page)."""
        conds = _conditions(q)
        failed = q.kind == "failed"
        source = messages.join(failures, failures.c.link == messages.c.link) if failed else messages
        count = select(func.count()).select_from(source).where(*conds)
        stmt = select(messages, *failures.c) if failed else select(messages)
        stmt = stmt.select_from(source).where(*conds).order_by(*self._order(q)).offset(q.offset).limit(q.limit)

        def read(db: Db) -> tuple[int, list[MessageView]]:
            total_row = db.first(count)
            rows = db.all(stmt)
            return (int(total_row[0]) if total_row else 0), self._views(db, q, rows)

        return await self._q(read, write=False)

    async def get(self, q: ViewQuery) -> MessageView | None:
        """One message of a list (``q.link`` set); the latest failure entry for ``failed``."""
        conds = _conditions(q)
        if q.kind == "failed":
            source = messages.join(failures, failures.c.link == messages.c.link)
            stmt = select(messages, *failures.c).select_from(source).where(*conds).order_by(failures.c.id.desc())
        else:
            stmt = select(messages).where(*conds)

        def read(db: Db) -> MessageView | None:
            rows = db.all(stmt.limit(1))
            views = self._views(db, q, rows)
            return views[0] if views else None

        return await self._q(read, write=False)

    def _order(self, q: ViewQuery) -> list[Any]:
        m = messages.c
        failed = q.kind == "failed"
        key: Any
        if q.sort_col == "receiverId":
            key = self._binary(m.recipient)
        elif q.sort_col == "senderId":
            key = self._binary(m.sender)
        elif q.sort_col == "subject":
            key = self._binary(func.coalesce(m.subject, ""))
        else:
            key = failures.c.attempted_at if failed else m.received_at
        tie = failures.c.id if failed else m.seq
        return [key.desc(), tie.desc()] if q.descending else [key.asc(), tie.asc()]

    def _binary(self, expr: Any) -> Any:
        # Code point order on both backends (SQLite compares UTF-8 bytes, which agrees).
        return expr.collate("C") if self._store.dialect == "postgresql" else expr

    def _views(self, db: Db, q: ViewQuery, rows: Sequence[Sequence[Any]]) -> list[MessageView]:
        from relaybox.store.sql import message_from_row

        n = len(messages.c)
        records = [message_from_row(r[:n]) for r in rows]
        extra = _extra_attachments(db, [m.link for m in records if m.attachment_count > 1])
        read: set[str] = set()
        if q.kind == "received" and records:
            read = {
                r[0]
                for r in db.all(
                    select(reads.c.link).where(
                        reads.c.account_id == q.account_id, reads.c.link.in_([m.link for m in records])
                    )
                )
            }
        pushed: dict[str, int] = {}
        remote = [m.link for m in records if m.receiver_deleted and m.state == "sent"]
        if q.kind == "sent" and remote:
            pushed = {
                r[0]: r[1]
                for r in db.all(
                    select(deliveries.c.link, deliveries.c.last_status).where(
                        deliveries.c.kind == "push", deliveries.c.state == "sent", deliveries.c.link.in_(remote)
                    )
                )
            }
        out = []
        for row, m in zip(rows, records, strict=True):
            failure = None
            if q.kind == "failed":
                fid, link, at, status, error = row[n:]
                failure = FailureRecord(fid, link, at, status, error)
            files = [first_attachment(m), *extra.get(m.link, [])]
            out.append(MessageView(m, files, m.link in read, failure, pushed.get(m.link)))
        return out

    async def attachment(self, record: MessageRecord, index: int) -> AttachmentRecord | None:
        if index == 0:
            return first_attachment(record)
        if index >= record.attachment_count:
            return None
        stmt = select(attachments).where(attachments.c.link == record.link, attachments.c.idx == index)
        row = await self._q(lambda db: db.first(stmt), write=False)
        return _attachment(row) if row else None

    async def receipt(self, link: str) -> str | None:
        stmt = select(receipts.c.document).where(receipts.c.link == link)
        row = await self._q(lambda db: db.first(stmt), write=False)
        return str(row[0]) if row else None

    async def by_link(self, link: str) -> MessageRecord | None:
        """The message with this link in any state or view (tools, not the APIs)."""
        from relaybox.store.sql import message_from_row

        row = await self._q(lambda db: db.first(select(messages).where(messages.c.link == link)), write=False)
        return message_from_row(row) if row else None

    async def extras(self, link: str) -> MessageExtras:
        from relaybox.store.schema import accounts

        def read(db: Db) -> MessageExtras:
            doc = db.first(select(receipts.c.document).where(receipts.c.link == link))
            fails = db.all(select(failures).where(failures.c.link == link).order_by(failures.c.id))
            readers = db.all(
                select(accounts.c.email).join(reads, reads.c.account_id == accounts.c.id).where(reads.c.link == link)
            )
            return MessageExtras(
                attachments=_extra_attachments(db, [link]).get(link, []),
                receipt=str(doc[0]) if doc else None,
                failures=[FailureRecord(*r) for r in fails],
                readers=[r[0] for r in readers],
            )

        return await self._q(read, write=False)

    # -- read state --------------------------------------------------------------------------
    async def mark_read(self, account_id: int, links: Sequence[str], now: float | None = None) -> None:
        """Mark received messages read for this account; the first mark on the receiver's
        side emits ``read`` (and ``delivered`` before it, if nothing was downloaded yet)."""
        if not links:
            return
        at = time.time() if now is None else now

        def mark(db: Db) -> None:
            from relaybox.store.sql import message_from_row

            wanted = list(dict.fromkeys(links))
            have = {
                r[0]
                for r in db.all(select(reads.c.link).where(reads.c.account_id == account_id, reads.c.link.in_(wanted)))
            }
            for link in wanted:
                if link not in have:
                    db.run(insert(reads).values(account_id=account_id, link=link))
            first = [
                message_from_row(r)
                for r in db.all(select(messages).where(messages.c.link.in_(wanted), messages.c.read_at.is_(None)))
            ]
            for m in first:
                db.run(
                    update(messages)
                    .where(messages.c.seq == m.seq)
                    .values(read_at=at, delivered_at=func.coalesce(messages.c.delivered_at, at))
                )
                events.on_first_read(db, m, at, delivered_too=m.delivered_at is None)

        try:
            await self._q(mark, write=True)
        except IntegrityError:
            await self._q(mark, write=True)  # a concurrent mark of the same message won; now it is seen

    async def mark_unread(self, account_id: int, link: str) -> None:
        stmt = delete(reads).where(reads.c.account_id == account_id, reads.c.link == link)
        await self._q(lambda db: db.run(stmt), write=True)

    # -- receipts ----------------------------------------------------------------------------
    async def mark_downloaded(self, downloaded: Sequence[MessageRecord], now: float) -> int:
        """First downloads without a receipt, in one transaction (written beside the responses,
        after them): ``delivered`` for each message not marked before. The number marked."""

        def mark(db: Db) -> int:
            first = [m for m in downloaded if db.run(_MARK_DOWNLOADED, {"marked": m.link, "at": now})]
            events.emit(db, now, [events.status_event(m, "delivered") for m in first])
            return len(first)

        return await self._q(mark, write=True, fsync=False)

    async def record_download(
        self,
        link: str,
        sign: Callable[[MessageRecord, list[AttachmentRecord], float], str],
        now: float,
        *,
        durable: bool,
    ) -> bool:
        """The receiver's first download of attachment bytes, once: ``delivered`` to the
        sender's endpoints and, when the sender asked for one, the signed receipt. True when
        this call recorded it. ``durable`` False (no receipt) skips the fsync: a power loss
        could then repeat a ``delivered`` event, never lose a message."""

        def record(db: Db) -> bool:
            from relaybox.store.sql import message_from_row

            row = db.first(select(messages).where(messages.c.link == link))
            if row is None:
                return False
            m = message_from_row(row)
            if m.delivered_at is not None and (not m.receipt_requested or m.receipt_at is not None):
                return False
            done = db.run(
                update(messages)
                .where(messages.c.link == link, messages.c.delivered_at.is_(None))
                .values(delivered_at=now)
            )
            if done:
                events.on_first_download(db, m, now)
            if m.receipt_requested and m.receipt_at is None:
                files = [first_attachment(m), *_extra_attachments(db, [link]).get(link, [])]
                if db.run(
                    update(messages)
                    .where(messages.c.link == link, messages.c.receipt_at.is_(None))
                    .values(receipt_at=now)
                ):
                    db.run(insert(receipts).values(link=link, document=sign(m, files, now)))
                    return True
            return bool(done)

        try:
            return await self._q(record, write=True, fsync=durable)
        except IntegrityError:
            return False  # another download recorded it concurrently

    # -- sending -----------------------------------------------------------------------------
    async def add(self, record: MessageRecord, files: Sequence[NewFile], delivery: str = "local") -> MessageRecord:
        """Commit a /v1 message with its finished blobs (``record`` describes attachment 0;
        its payload id and hashes are filled in here). When it is ``sent`` it is in the
        receiver's mailbox at commit."""
        ids = [await f.blob.finish() for f in files]
        first = files[0]
        record = replace(
            record,
            payload_id=ids[0],
            file_name=first.name,
            size=first.blob.size,
            md5=first.blob.md5,
            sha256=first.blob.sha256,
            content_type=first.content_type,
            attachment_count=len(files),
        )

        def add(db: Db) -> MessageRecord:
            from relaybox.store.sql import message_values

            for pid, f in zip(ids, files, strict=True):
                self._store._add_payload(db, pid, f.blob, record.received_at)
            seq = db.insert(insert(messages), message_values(record))
            for i, (pid, f) in enumerate(zip(ids[1:], files[1:], strict=True), start=1):
                db.run(
                    insert(attachments),
                    {
                        "link": record.link,
                        "idx": i,
                        "file_name": f.name,
                        "size": f.blob.size,
                        "md5": f.blob.md5,
                        "sha256": f.blob.sha256,
                        "content_type": f.content_type,
                        "payload_id": pid,
                    },
                )
            stored = replace(record, seq=seq)
            if delivery != "local":
                add_push(db, record.link, record.received_at)
            events.on_send(db, stored, record.received_at, delivery)
            if record.state == "sent":
                self._store._after_insert(db, record.recipient)
            return stored

        return await self._q(add, write=True)

    async def deliver(self, link: str, now: float) -> str | None:
        """Try to deliver a queued message to its local partner: its new state (``sent``;
        ``queued`` while its partner is paused or remote; ``stopped`` with a failure entry when
        the receiving route is gone), or None when it is not queued."""
        return await self._q(lambda db: self._deliver(db, link, now), write=True)

    def _deliver(self, db: Db, link: str, now: float) -> str | None:
        from relaybox.store.sql import message_from_row, message_values

        row = db.first(select(messages).where(messages.c.link == link, messages.c.state == _QUEUED))
        if row is None:
            return None
        m = message_from_row(row)
        p = db.first(
            select(partners_t.c.uri, partners_t.c.pause_outgoing).where(
                partners_t.c.station == m.sender,
                partners_t.c.route == m.recipient,
                partners_t.c.partner_type == m.sender_type,
            )
        )
        if p is not None and p[0] is not None:
            if not p[1]:
                hurry_push(db, link, now)  # a pause just ended: no need to wait for the recheck
            return "queued"  # remote: the outbox's
        if p is not None and p[1]:
            return "queued"  # paused
        route = db.first(select(routes.c.enabled).where(routes.c.route == m.recipient))
        if route is None or not route[0]:
            db.run(
                insert(failures).values(
                    link=link, attempted_at=now, status=404, error=f"Recipient route {m.recipient} not found"
                )
            )
            db.run(update(messages).where(messages.c.seq == m.seq).values(state="stopped"))
            return "stopped"
        # A new row (new seq): the message joins the mailbox at its end, after every cursor.
        db.run(delete(messages).where(messages.c.seq == m.seq))
        arrived = replace(m, state="sent", received_at=now)
        arrived = replace(arrived, seq=db.insert(insert(messages), message_values(arrived)))
        events.on_arrival(db, arrived, now)
        self._store._after_insert(db, m.recipient)
        return "sent"

    async def queued_links(self, station: str, route: str, partner_type: str) -> list[str]:
        stmt = (
            select(messages.c.link)
            .where(
                messages.c.sender == station,
                messages.c.recipient == route,
                messages.c.sender_type == partner_type,
                messages.c.state == _QUEUED,
            )
            .order_by(messages.c.seq)
        )
        return [r[0] for r in await self._q(lambda db: db.all(stmt), write=False)]

    async def set_state(self, stations: Sequence[str], link: str, state: str, now: float) -> bool:
        """Stop (``stopped``) or retry (``queued``) an undelivered message of these stations; a
        push to a remote partner stops with it, or starts its schedule over."""
        from relaybox.store.sql import message_from_row

        stmt = select(messages).where(
            messages.c.link == link,
            messages.c.sender.in_(list(stations)),
            messages.c.state.in_([_QUEUED, _STOPPED]),
            messages.c.expires_at > now,
        )

        def change(db: Db) -> bool:
            row = db.first(stmt)
            if row is None:
                return False
            m = message_from_row(row)
            db.run(update(messages).where(messages.c.seq == m.seq).values(state=state))
            remote = db.first(
                select(partners_t.c.uri).where(
                    partners_t.c.station == m.sender,
                    partners_t.c.route == m.recipient,
                    partners_t.c.partner_type == m.sender_type,
                )
            )
            if remote is not None and remote[0] is not None:
                if state == "queued":
                    restart_push(db, link, now)
                else:
                    stop_push(db, m, now)
            return True

        return await self._q(change, write=True)

    # -- deleting ----------------------------------------------------------------------------
    async def delete(self, kind: str, stations: Sequence[str], links: Sequence[str], now: float) -> int:
        """Delete these messages' views of ``kind`` (received, sent, queued, stopped, failed);
        the number of messages deleted. Unknown or foreign ids are skipped."""
        m = messages.c
        base = [m.link.in_(list(dict.fromkeys(links))), m.expires_at > now, m.payload_id.is_not(None)]
        st = list(stations)

        def remove(db: Db) -> int:
            if kind == "failed":
                owned = [
                    r[0]
                    for r in db.all(
                        select(m.link).where(*base, m.sender.in_(st), exists().where(failures.c.link == m.link))
                    )
                ]
                if owned:
                    db.run(delete(failures).where(failures.c.link.in_(owned)))
                return len(owned)
            if kind in ("queued", "stopped"):
                state = _QUEUED if kind == "queued" else _STOPPED
                found = [r[0] for r in db.all(select(m.link).where(*base, m.sender.in_(st), m.state == state))]
                _drop(db, found)
                return len(found)
            mine, own_flag, other_flag = (
                (m.recipient, m.receiver_deleted, m.sender_deleted)
                if kind == "received"
                else (m.sender, m.sender_deleted, m.receiver_deleted)
            )
            rows = db.all(
                select(m.link, other_flag).where(*base, mine.in_(st), m.state == _SENT, own_flag.is_(false()))
            )
            gone = [r[0] for r in rows if r[1]]
            keep = [r[0] for r in rows if not r[1]]
            _drop(db, gone)
            if keep:
                db.run(update(messages).where(m.link.in_(keep)).values({own_flag.key: True}))
            return len(rows)

        return await self._q(remove, write=True)


def _attachment(row: Sequence[Any]) -> AttachmentRecord:
    _link, idx, name, size, md5, sha256, ctype, pid = row
    return AttachmentRecord(idx, name, size, md5, sha256, ctype, pid)


def _extra_attachments(db: Db, links: list[str]) -> dict[str, list[AttachmentRecord]]:
    out: dict[str, list[AttachmentRecord]] = {}
    if links:
        rows = db.all(select(attachments).where(attachments.c.link.in_(links)).order_by(attachments.c.idx))
        for row in rows:
            out.setdefault(row[0], []).append(_attachment(row))
    return out


def _drop(db: Db, links: list[str]) -> None:
    """Remove messages and everything of theirs; their payloads go unreferenced (the sweeper
    deletes them)."""
    if links:
        drop_related(db, links)
        db.run(delete(messages).where(messages.c.link.in_(links)))


def import_extras(db: Db, link: str, extras: MessageExtras, payload_ids: Sequence[str]) -> None:
    """Write a copied message's extras (inside its import transaction); ``payload_ids`` are
    the target's ids of the extra attachments, in order."""
    from relaybox.store.schema import accounts

    for a, pid in zip(extras.attachments, payload_ids, strict=True):
        db.run(
            insert(attachments).values(
                link=link,
                idx=a.index,
                file_name=a.file_name,
                size=a.size,
                md5=a.md5,
                sha256=a.sha256,
                content_type=a.content_type,
                payload_id=pid,
            )
        )
    if extras.receipt is not None:
        db.run(insert(receipts).values(link=link, document=extras.receipt))
    for f in extras.failures:
        db.run(insert(failures).values(link=link, attempted_at=f.attempted_at, status=f.status, error=f.error))
    if extras.readers:
        ids = db.all(select(accounts.c.id).where(accounts.c.email.in_(extras.readers)))
        for row in ids:
            db.run(insert(reads).values(account_id=row[0], link=link))


def drop_related(db: Db, links: list[str]) -> None:
    for table in (attachments, receipts, reads, failures):
        db.run(delete(table).where(table.c.link.in_(links)))
    # Their pushes to remote partners (webhook deliveries have no link).
    db.run(delete(deliveries).where(deliveries.c.link.in_(links)))


__all__ = [
    "KINDS",
    "MessageExtras",
    "MessageView",
    "NewFile",
    "import_extras",
    "ViewQuery",
    "ViewStore",
    "drop_related",
    "first_attachment",
]
