"""Webhook events, written in the transaction of their cause (the outbox pattern).

Each ``on_*`` function runs inside a store transaction: when the cause commits, so do the
event and one delivery row per enabled endpoint subscribed to it; when it rolls back, neither
exists. A station without endpoints costs one indexed probe and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, true

from relaybox.store.base import MessageRecord
from relaybox.store.db import Db
from relaybox.store.schema import deliveries, events, webhooks
from relaybox.wire.events import RECEIVED, STATUS, envelope, format_rfc3339
from relaybox.wire.ids import new_delivery_id, new_event_id

_SUBSCRIBERS = select(webhooks.c.id, webhooks.c.station, webhooks.c.event_types).where(
    webhooks.c.station.in_(bindparam("stations", expanding=True)), webhooks.c.enabled.is_(true())
)
_INSERT_EVENT = insert(events)
# Outbox workers of this process, woken when a transaction here writes deliveries (workers
# on other nodes find them at their next poll). Called inside the transaction: a woken worker
# looks a moment later, after the commit.
_listeners: list[Callable[[], None]] = []


def on_deliveries(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` whenever deliveries are written or made due here; returns the undo."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def wake() -> None:
    for listener in list(_listeners):
        listener()


_INSERT_DELIVERY = insert(deliveries)


@dataclass(frozen=True, slots=True)
class Emit:
    station: str  # whose endpoints get it
    event_type: str
    event: dict[str, Any]


def received_event(m: MessageRecord) -> dict[str, Any]:
    return {
        "link": m.link,
        "from": m.sender,
        "to": m.recipient,
        "message_id": m.message_id,
        "subject": m.subject,
        "file_name": m.file_name,
        "size": m.size,
        "md5": m.md5,
        "attachment_count": m.attachment_count,
        "pay_for_reply": m.pay_for_reply,
        "received_at": format_rfc3339(m.received_at),
        "expires_at": format_rfc3339(m.expires_at),
    }


def status_event(
    m: MessageRecord,
    status: str,
    *,
    delivery: str = "local",
    remote_link: str | None = None,
    reason: str | None = None,
) -> Emit:
    return Emit(
        m.sender,
        STATUS,
        {
            "status": status,
            "link": m.link,
            "message_id": m.message_id,
            "from": m.sender,
            "to": m.recipient,
            "list": m.fanout,
            "size": m.size,
            "md5": m.md5,
            "delivery": delivery,
            "remote_link": remote_link,
            "reason": reason,
        },
    )


def emit(db: Db, now: float, items: Sequence[Emit]) -> int:
    """Write each event for the endpoints that want it; the number of deliveries written."""
    if not items:
        return 0
    stations = sorted({i.station for i in items})
    wanted: dict[tuple[str, str], list[str]] = {}
    for wid, station, types in db.all(_SUBSCRIBERS, {"stations": stations}):
        for event_type in types.split(","):
            wanted.setdefault((station, event_type), []).append(wid)
    written = 0
    for item in items:
        targets = wanted.get((item.station, item.event_type))
        if not targets:
            continue
        event_id = new_event_id(now)
        body = envelope(event_id, item.event_type, now, item.event)
        db.run(
            _INSERT_EVENT,
            {"id": event_id, "event_type": item.event_type, "created_at": now, "body": body.decode("utf-8")},
        )
        for wid in targets:
            db.run(
                _INSERT_DELIVERY,
                new_delivery(now, "webhook", webhook_id=wid, event_id=event_id, event_type=item.event_type),
            )
            written += 1
    if written:
        wake()
    return written


def new_delivery(now: float, kind: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": new_delivery_id(now),
        "kind": kind,
        "webhook_id": None,
        "event_id": None,
        "event_type": None,
        "link": None,
        "state": "queued",
        "attempts": 0,
        "next_at": now,
        "lease_until": None,
        "lease_token": None,
        "last_at": None,
        "last_status": None,
        "last_error": None,
        "stop_reason": None,
        "remote_link": None,
        "created_at": now,
    }
    row.update(fields)
    return row


# -- the causes ---------------------------------------------------------------------------------
def on_send(db: Db, m: MessageRecord, now: float, delivery: str = "local") -> int:
    """A message committed: ``accepted`` to the sender and, when it is in a local mailbox
    now, ``message.received`` to the recipient."""
    items = [status_event(m, "accepted", delivery=delivery)]
    if m.state == "sent" and delivery == "local":
        items.append(Emit(m.recipient, RECEIVED, received_event(m)))
    return emit(db, now, items)


def on_arrival(db: Db, m: MessageRecord, now: float) -> int:
    """A queued message reached its local mailbox (a paused partner resumed, or a retry)."""
    return emit(db, now, [Emit(m.recipient, RECEIVED, received_event(m))])


def on_first_download(db: Db, m: MessageRecord, now: float) -> int:
    return emit(db, now, [status_event(m, "delivered")])


def on_first_read(db: Db, m: MessageRecord, now: float, *, delivered_too: bool) -> int:
    items = [status_event(m, "delivered")] if delivered_too else []
    items.append(status_event(m, "read"))
    return emit(db, now, items)


def on_expired(db: Db, expired: Iterable[MessageRecord], now: float) -> int:
    """Messages purged without ever being downloaded by a local receiver."""
    return emit(db, now, [status_event(m, "expired") for m in expired])
