"""The outbox's worker side: claim due deliveries under a lease, record each attempt's
outcome, and the message side of pushes to remote partners.

A claim sets ``lease_until`` and a fresh ``lease_token`` in one transaction (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, the single writer on SQLite), so workers on every node never
attempt the same delivery at once; a worker that dies mid-attempt leaves a lease that
expires, and the delivery is attempted again (at-least-once).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, or_, select, update

from relaybox.store import events as ev
from relaybox.store.base import DeliveryRecord, MessageRecord, PartnerRecord, WebhookRecord
from relaybox.store.db import Db
from relaybox.store.partners import partner_from_row
from relaybox.store.schema import deliveries, delivery_failures, events, failures, messages, partners, webhooks
from relaybox.store.webhooks import delivery_from_row, disable, webhook_from_row

if TYPE_CHECKING:
    from relaybox.store.sql import SqlStore

LEASE_GRACE = 30.0  # a lease outlives its attempt's timeout by this much
PAUSE_RECHECK = 30.0  # a push held by pauseOutgoing looks again this often (no attempt spent)
MAX_IN_FLIGHT = 4  # attempts at once per endpoint


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery: one attempt to make."""

    delivery: DeliveryRecord  # as claimed (attempts already counts this one)
    webhook: WebhookRecord | None = None
    body: bytes | None = None  # webhook: the envelope
    message: MessageRecord | None = None  # push: the message and its partner
    partner: PartnerRecord | None = None

    @property
    def attempt(self) -> int:
        return self.delivery.attempts


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None  # HTTP status, None without a complete answer
    error: str | None  # why it failed, None on 2xx
    duration_ms: int
    excerpt: str | None = None  # start of the answer body (failures)
    retry_after: float | None = None  # seconds the answer asked us to wait
    remote_link: str | None = None  # federation: the remote gateway's link

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Policy:
    """How failures are rescheduled (from the settings)."""

    next_delay: Callable[[int], float | None]  # after failed attempt n (1-based); None: no more
    disable_after: float  # seconds of an unbroken failure streak before an endpoint is disabled
    refused: frozenset[int]  # push answers that stop the push at once


def _due(now: float) -> list[Any]:
    d = deliveries.c
    return [d.state == "queued", d.next_at <= now, or_(d.lease_until.is_(None), d.lease_until < now)]


class OutboxStore:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._q = store._q

    async def next_due(self) -> float | None:
        """When the earliest queued delivery is due (None: nothing queued)."""
        row = await self._q(
            lambda db: db.first(select(func.min(deliveries.c.next_at)).where(deliveries.c.state == "queued")),
            write=False,
        )
        return float(row[0]) if row and row[0] is not None else None

    async def claim(self, now: float, limit: int) -> list[Job]:
        return await self._q(lambda db: self._claim(db, now, limit), write=True)

    def _claim(self, db: Db, now: float, limit: int) -> list[Job]:
        rows = db.all(
            select(deliveries)
            .where(*_due(now))
            .order_by(deliveries.c.next_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        found = [delivery_from_row(r) for r in rows]
        if not found:
            return []
        hook_ids = sorted({d.webhook_id for d in found if d.webhook_id})
        hooks = (
            {w.id: w for w in map(webhook_from_row, db.all(select(webhooks).where(webhooks.c.id.in_(hook_ids))))}
            if hook_ids
            else {}
        )
        busy: dict[str, int] = (
            dict(
                db.all(  # type: ignore[arg-type]
                    select(deliveries.c.webhook_id, func.count())
                    .where(
                        deliveries.c.webhook_id.in_(hook_ids),
                        deliveries.c.state == "queued",
                        deliveries.c.lease_until >= now,
                    )
                    .group_by(deliveries.c.webhook_id)
                )
            )
            if hook_ids
            else {}
        )
        event_ids = sorted({d.event_id for d in found if d.kind == "webhook" and d.event_id})
        # One read for every claimed delivery's envelope (was one query per delivery).
        bodies: dict[str, str] = (
            dict(db.all(select(events.c.id, events.c.body).where(events.c.id.in_(event_ids))))  # type: ignore[arg-type]
            if event_ids
            else {}
        )
        jobs: list[Job] = []
        for d in found:
            job = (
                self._webhook_job(db, d, hooks, busy, bodies, now)
                if d.kind == "webhook"
                else self._push_job(db, d, now)
            )
            if job is not None:
                jobs.append(job)
        return jobs

    def _lease(self, db: Db, d: DeliveryRecord, timeout: float, now: float) -> DeliveryRecord:
        token = secrets.token_hex(8)
        claimed = replace(
            d, attempts=d.attempts + 1, lease_until=now + timeout + LEASE_GRACE, lease_token=token, last_at=now
        )
        db.run(
            update(deliveries)
            .where(deliveries.c.id == d.id)
            .values(attempts=claimed.attempts, lease_until=claimed.lease_until, lease_token=token, last_at=now)
        )
        return claimed

    def _webhook_job(
        self,
        db: Db,
        d: DeliveryRecord,
        hooks: dict[str, WebhookRecord],
        busy: dict[str, int],
        bodies: dict[str, str],
        now: float,
    ) -> Job | None:
        hook = hooks.get(d.webhook_id or "")
        if hook is None:  # its endpoint was deleted meanwhile
            db.run(delete(deliveries).where(deliveries.c.id == d.id))
            return None
        if not hook.enabled:
            db.run(
                update(deliveries)
                .where(deliveries.c.id == d.id)
                .values(state="stopped", stop_reason="endpoint disabled", next_at=None)
            )
            return None
        if busy.get(hook.id, 0) >= MAX_IN_FLIGHT:
            return None  # stays due; claimed when an attempt of that endpoint finishes
        busy[hook.id] = busy.get(hook.id, 0) + 1
        body = bodies.get(d.event_id or "")
        if body is None:
            db.run(delete(deliveries).where(deliveries.c.id == d.id))
            return None
        return Job(self._lease(db, d, hook.timeout, now), webhook=hook, body=body.encode("utf-8"))

    def _push_job(self, db: Db, d: DeliveryRecord, now: float) -> Job | None:
        from relaybox.store.sql import message_from_row

        row = db.first(select(messages).where(messages.c.link == d.link))
        m = message_from_row(row) if row else None
        if m is None or m.state != "queued":
            # Stopped or deleted through the message (its own controls); nothing to push.
            db.run(update(deliveries).where(deliveries.c.id == d.id).values(state="stopped", next_at=None))
            return None
        p = db.first(
            select(partners).where(
                partners.c.station == m.sender,
                partners.c.route == m.recipient,
                partners.c.partner_type == m.sender_type,
            )
        )
        partner = partner_from_row(p) if p else None
        if partner is None or partner.uri is None:
            self._stop_push(db, d, m, now, "partner removed", status=None)
            return None
        if m.expired(now):
            self._stop_push(db, d, m, now, "expired before delivery", status=None, transport=partner.transport)
            return None
        if partner.pause_outgoing:
            db.run(update(deliveries).where(deliveries.c.id == d.id).values(next_at=now + PAUSE_RECHECK))
            return None
        return Job(self._lease(db, d, partner.send_timeout, now), message=m, partner=partner)

    def _stop_push(
        self,
        db: Db,
        d: DeliveryRecord,
        m: MessageRecord,
        now: float,
        reason: str,
        *,
        status: int | None,
        transport: str = "federation",
    ) -> None:
        db.run(
            update(deliveries)
            .where(deliveries.c.id == d.id)
            .values(state="stopped", stop_reason=reason, next_at=None, lease_until=None)
        )
        db.run(update(messages).where(messages.c.link == m.link, messages.c.state == "queued").values(state="stopped"))
        ev.emit(db, now, [ev.status_event(m, "failed", delivery=transport, reason=reason)])

    # -- outcomes ---------------------------------------------------------------------------------
    async def complete(self, job: Job, outcome: Outcome, now: float, policy: Policy) -> None:
        if job.delivery.kind == "webhook":
            await self._q(lambda db: self._complete_webhook(db, job, outcome, now, policy), write=True)
        else:
            await self._q(lambda db: self._complete_push(db, job, outcome, now, policy), write=True)

    def _current(self, db: Db, job: Job) -> DeliveryRecord | None:
        row = db.first(select(deliveries).where(deliveries.c.id == job.delivery.id))
        return delivery_from_row(row) if row else None

    def _complete_webhook(self, db: Db, job: Job, outcome: Outcome, now: float, policy: Policy) -> None:
        d = self._current(db, job)
        hook = job.webhook
        assert hook is not None
        if d is None:
            return  # deleted meanwhile
        mine = d.lease_token == job.delivery.lease_token
        last = _last(outcome, now)
        if outcome.ok:
            _mark_sent(db, d.id, last)
            db.run(update(webhooks).where(webhooks.c.id == hook.id).values(failing_since=None))
            return
        db.run(
            insert(delivery_failures).values(
                delivery_id=d.id,
                webhook_id=hook.id,
                event_id=d.event_id,
                event_type=d.event_type,
                attempt=job.attempt,
                attempted_at=now,
                status=outcome.status,
                error=(outcome.error or "")[:1024] or None,
                duration_ms=outcome.duration_ms,
                excerpt=outcome.excerpt,
            )
        )
        db.run(
            update(webhooks)
            .where(webhooks.c.id == hook.id, webhooks.c.failing_since.is_(None))
            .values(failing_since=now)
        )
        if mine and d.state == "queued":
            values: dict[str, Any] = {"lease_until": None, "lease_token": None, **last}
            delay = policy.next_delay(job.attempt)
            if delay is None:
                values.update(state="stopped", stop_reason="exhausted", next_at=None)
            else:
                values["next_at"] = now + max(delay, outcome.retry_after or 0.0)
            db.run(update(deliveries).where(deliveries.c.id == d.id).values(**values))
        elif mine:  # stopped by hand while in flight: the failure is not rescheduled
            db.run(update(deliveries).where(deliveries.c.id == d.id).values(lease_until=None, lease_token=None, **last))
        streak = db.first(select(webhooks.c.failing_since, webhooks.c.enabled).where(webhooks.c.id == hook.id))
        if outcome.status == 410:
            disable(db, hook.id, "gone", now)
        elif streak is not None and streak[1] and streak[0] is not None and now - streak[0] >= policy.disable_after:
            disable(db, hook.id, "failing", now)

    def _complete_push(self, db: Db, job: Job, outcome: Outcome, now: float, policy: Policy) -> None:
        d = self._current(db, job)
        m, p = job.message, job.partner
        assert m is not None and p is not None
        if d is None:
            return  # the message was deleted meanwhile
        mine = d.lease_token == job.delivery.lease_token
        last = _last(outcome, now)
        if outcome.ok:
            _mark_sent(db, d.id, {**last, "remote_link": outcome.remote_link})
            # Delivered elsewhere: in the sender's sent list, in no local mailbox (the remote
            # route may share its name with a local one).
            db.run(
                update(messages)
                .where(messages.c.link == m.link)
                .values(state="sent", receiver_deleted=True, delivered_at=now)
            )
            ev.emit(db, now, [ev.status_event(m, "delivered", delivery=p.transport, remote_link=outcome.remote_link)])
            return
        db.run(
            insert(failures).values(
                link=m.link, attempted_at=now, status=outcome.status, error=(outcome.error or "failed")[:1024]
            )
        )
        if not mine or d.state != "queued":
            if mine:
                db.run(
                    update(deliveries).where(deliveries.c.id == d.id).values(lease_until=None, lease_token=None, **last)
                )
            return
        if outcome.status is not None and outcome.status in policy.refused:
            code = (
                f" code={outcome.error.split('code=', 1)[1][:3]}" if outcome.error and "code=" in outcome.error else ""
            )
            self._stop_push(
                db, d, m, now, f"refused: HTTP {outcome.status}{code}", status=outcome.status, transport=p.transport
            )
            db.run(update(deliveries).where(deliveries.c.id == d.id).values(**last))
            return
        delay = policy.next_delay(job.attempt)
        if delay is None:
            self._stop_push(db, d, m, now, "exhausted", status=outcome.status, transport=p.transport)
            db.run(update(deliveries).where(deliveries.c.id == d.id).values(**last))
            return
        db.run(
            update(deliveries)
            .where(deliveries.c.id == d.id)
            .values(lease_until=None, lease_token=None, next_at=now + max(delay, outcome.retry_after or 0.0), **last)
        )

    async def prune(self, before: float) -> int:
        """Drop finished webhook deliveries created before ``before``, their failure entries
        and the events nothing needs any more; the number of deliveries dropped."""

        def prune(db: Db) -> int:
            from relaybox.store.webhooks import drop_orphan_events

            ids = [
                r[0]
                for r in db.all(
                    select(deliveries.c.id)
                    .where(
                        deliveries.c.kind == "webhook",
                        deliveries.c.state.in_(["sent", "stopped"]),
                        deliveries.c.created_at < before,
                    )
                    .limit(1000)
                )
            ]
            if ids:
                db.run(delete(delivery_failures).where(delivery_failures.c.delivery_id.in_(ids)))
                db.run(delete(deliveries).where(deliveries.c.id.in_(ids)))
                drop_orphan_events(db)
            return len(ids)

        total = 0
        while n := await self._q(prune, write=True):
            total += n
            if n < 1000:
                break
        return total

    # -- the message side of pushes ------------------------------------------------------------------
    async def push_state(self, links: Sequence[str]) -> dict[str, DeliveryRecord]:
        """The push deliveries of these messages (the /v1 lists show their status)."""
        stmt = select(deliveries).where(deliveries.c.kind == "push", deliveries.c.link.in_(list(links)))
        return {d.link or "": d for d in map(delivery_from_row, await self._q(lambda db: db.all(stmt), write=False))}


def _last(outcome: Outcome, now: float) -> dict[str, Any]:
    return {"last_at": now, "last_status": outcome.status, "last_error": outcome.error}


def _mark_sent(db: Db, delivery_id: str, values: dict[str, Any]) -> None:
    db.run(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(state="sent", next_at=None, lease_until=None, lease_token=None, stop_reason=None, **values)
    )


def add_push(db: Db, link: str, now: float) -> None:
    """Queue a message for its remote partner (inside the send's transaction)."""
    db.run(insert(deliveries).values(**ev.new_delivery(now, "push", link=link)))
    ev.wake()


def restart_push(db: Db, link: str, now: float) -> None:
    """A retry by hand: the schedule starts over at attempt 1, now."""
    done = db.run(
        update(deliveries)
        .where(deliveries.c.kind == "push", deliveries.c.link == link)
        .values(state="queued", attempts=0, next_at=now, stop_reason=None, lease_until=None, lease_token=None)
    )
    if not done:
        add_push(db, link, now)
    ev.wake()


def hurry_push(db: Db, link: str, now: float) -> None:
    """A queued push is due now (its partner's pause ended), without spending an attempt."""
    if db.run(
        update(deliveries)
        .where(
            deliveries.c.kind == "push",
            deliveries.c.link == link,
            deliveries.c.state == "queued",
            deliveries.c.next_at > now,
            deliveries.c.attempts == 0,
        )
        .values(next_at=now)
    ):
        ev.wake()


def stop_push(db: Db, m: MessageRecord, now: float) -> None:
    """A stop by hand: the push stops (an attempt in flight finishes) and ``failed`` is emitted."""
    done = db.run(
        update(deliveries)
        .where(deliveries.c.kind == "push", deliveries.c.link == m.link, deliveries.c.state == "queued")
        .values(state="stopped", stop_reason="stopped", next_at=None)
    )
    if done:
        ev.emit(db, now, [ev.status_event(m, "failed", delivery=_transport(db, m), reason="stopped")])


def _transport(db: Db, m: MessageRecord) -> str:
    """How a message to a remote partner is pushed (its sender's partner record)."""
    found = db.first(
        select(partners.c.transport).where(
            partners.c.station == m.sender,
            partners.c.route == m.recipient,
            partners.c.partner_type == m.sender_type,
        )
    )
    return str(found[0]) if found else "federation"


def expire_undelivered(db: Db, expired: Sequence[MessageRecord], now: float) -> None:
    """Messages purged before anyone downloaded them: ``expired`` for local recipients;
    ``failed`` (expired before delivery) for pushes still queued."""
    if not expired:
        return
    pushes = {
        r[0]: r[1]
        for r in db.all(
            select(deliveries.c.link, deliveries.c.state).where(
                deliveries.c.kind == "push", deliveries.c.link.in_([m.link for m in expired])
            )
        )
    }
    local = [m for m in expired if m.link not in pushes]
    ev.on_expired(db, local, now)
    for m in expired:
        if pushes.get(m.link) == "queued":
            db.run(
                update(deliveries)
                .where(deliveries.c.kind == "push", deliveries.c.link == m.link)
                .values(state="stopped", stop_reason="expired before delivery", next_at=None)
            )
            ev.emit(
                db, now, [ev.status_event(m, "failed", delivery=_transport(db, m), reason="expired before delivery")]
            )
