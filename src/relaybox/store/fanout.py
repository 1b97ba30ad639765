"""Fan-out: one send to every contact of a list (request-signing.md, "Fan-out addressing").

The payload is stored once; each distinct contact route gets its own message row (its link,
read state, receipt and events), resolved as a direct send from the station would be: a
partner with a ``uri`` means a push, a receiver that paused the station rejects its copy, an
unknown route is rejected. All in one transaction with the answer, which is kept for the
message's lifetime so that a repeated /1 send gets the same answer and delivers nothing new.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select

from relaybox.errors import ErrorCode, RelayboxError
from relaybox.store import events
from relaybox.store.base import MessageRecord, PartnerRecord
from relaybox.store.db import Db
from relaybox.store.partners import partner_from_row
from relaybox.store.schema import attachments, deliveries, fanouts, messages, partners, routes
from relaybox.wire.events import RECEIVED
from relaybox.wire.ids import new_link

NO_ROUTE = "Contact has no route"
NOT_FOUND = ErrorCode.RECIPIENT_NOT_FOUND


@dataclass(frozen=True, slots=True)
class FanoutFile:
    """One stored file of the message (attachment ``index``), shared by every copy."""

    payload_id: str
    name: str
    size: int
    md5: str
    sha256: str
    content_type: str


@dataclass(frozen=True, slots=True)
class FanoutOutcome:
    result: dict[str, Any]  # the answer (snake_case, as /1 sends it)
    created: bool  # False: a repeated /1 send, answered from the first
    copies: list[MessageRecord]  # the copies made now (their waiters to wake)


def _group(members: Sequence[tuple[str | None, int]]) -> list[tuple[str | None, list[int]]]:
    """Distinct routes with their contact ids, sorted by route, contacts without one last."""
    by_route: dict[str | None, list[int]] = {}
    for route, contact_id in members:
        by_route.setdefault(route, []).append(contact_id)
    return sorted(by_route.items(), key=lambda item: (item[0] is None, item[0] or ""))


def _pairs(db: Db, sender: str, routes_: list[str]) -> tuple[dict[str, PartnerRecord], dict[str, PartnerRecord]]:
    """Both sides' partner records for every recipient in one query, Production first."""
    outgoing: dict[str, PartnerRecord] = {}
    incoming: dict[str, PartnerRecord] = {}
    for chunk in range(0, len(routes_), 500):
        part = routes_[chunk : chunk + 500]
        rows = db.all(
            select(partners)
            .where(
                or_(
                    and_(partners.c.station == sender, partners.c.route.in_(part)),
                    and_(partners.c.station.in_(part), partners.c.route == sender),
                )
            )
            .order_by(partners.c.partner_type)
        )
        for row in rows:
            p = partner_from_row(row)
            if p.station == sender:
                outgoing.setdefault(p.route, p)
            if p.route == sender:
                incoming.setdefault(p.station, p)
    return outgoing, incoming


def _local(db: Db, routes_: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in range(0, len(routes_), 500):
        part = routes_[chunk : chunk + 500]
        found |= {r[0] for r in db.all(select(routes.c.route).where(routes.c.route.in_(part), routes.c.enabled))}
    return found


def previous(db: Db, sender: str, message_id: str, target: str, md5: str, now: float) -> dict[str, Any] | None:
    """The stored answer of the same fan-out (idempotent re-send); 409 code 204 when the
    message id was used for something else."""
    row = db.first(
        select(fanouts.c.target, fanouts.c.md5, fanouts.c.result, fanouts.c.expires_at).where(
            fanouts.c.sender == sender, fanouts.c.message_id == message_id
        )
    )
    if row is not None and row[3] > now:
        if row[0] == target and row[1] == md5:
            result: dict[str, Any] = json.loads(row[2])
            return result
        raise RelayboxError(ErrorCode.MESSAGE_ID_CONFLICT)
    if row is not None:
        db.run(delete(fanouts).where(fanouts.c.sender == sender, fanouts.c.message_id == message_id))
    taken = db.first(
        select(messages.c.seq).where(
            messages.c.sender == sender,
            messages.c.message_id == message_id,
            messages.c.expires_at > now,
            messages.c.fanout.is_distinct_from(target),
        )
    )
    if taken is not None:
        raise RelayboxError(ErrorCode.MESSAGE_ID_CONFLICT)
    return None


def fan_out(
    db: Db,
    template: MessageRecord,
    files: Sequence[FanoutFile],
    members: Sequence[tuple[str | None, int]],
    *,
    add_payload: Callable[[Db, FanoutFile], None],
    after_insert: Callable[[Db, str], None],
) -> tuple[dict[str, Any], list[MessageRecord]]:
    """Write the copies; (the answer, the copies in mailboxes). ``template`` carries the
    sender, message id, dates and attachment 0's fields; its recipient is the target."""
    now = template.received_at
    target = template.recipient
    groups = _group(members)
    named = [route for route, _ in groups if route is not None]
    outgoing, incoming = _pairs(db, template.sender, named)
    local = _local(db, named)
    recipients: list[dict[str, Any]] = []
    planned: list[tuple[dict[str, Any], MessageRecord, str]] = []
    for route, contact_ids in groups:
        entry: dict[str, Any] = {"route": route, "contact_ids": contact_ids}
        recipients.append(entry)
        if route is None:
            entry.update(status="rejected", code=NOT_FOUND.code, reason=NO_ROUTE)
            continue
        out = outgoing.get(route)
        remote = out is not None and out.uri is not None
        if remote and len(files) > 1:
            entry.update(status="rejected", code=None, reason="A push to a remote partner carries one file")
            continue
        if not remote and route not in local:
            entry.update(status="rejected", code=NOT_FOUND.code, reason=NOT_FOUND.message)
            continue
        back = incoming.get(route)
        if not remote and back is not None and back.pause_incoming:
            entry.update(status="rejected", code=NOT_FOUND.code, reason=NOT_FOUND.message)
            continue
        held = remote or (out is not None and out.pause_outgoing)  # a paused partner waits, as a direct send
        copy = replace(
            template,
            link=new_link(),
            recipient=route,
            state="queued" if held else "sent",
            sender_type=out.partner_type if out else "Production",
            receiver_type=back.partner_type if back else "Production",
            receipt_requested=out.request_mdn if out else False,
            fanout=target,
        )
        entry.update(status="queued" if held else "accepted", link=copy.link)
        planned.append((entry, copy, out.transport if remote and out else "local"))
    if not planned:
        raise RelayboxError(NOT_FOUND, "No contact of the list can receive the message")
    for f in files:
        add_payload(db, f)
    from relaybox.store.sql import message_values

    db.run_many(insert(messages), [message_values(copy) for _, copy, _ in planned])
    extra = [
        {
            "link": copy.link,
            "idx": i,
            "file_name": f.name,
            "size": f.size,
            "md5": f.md5,
            "sha256": f.sha256,
            "content_type": f.content_type,
            "payload_id": f.payload_id,
        }
        for _, copy, _ in planned
        for i, f in enumerate(files[1:], start=1)
    ]
    db.run_many(insert(attachments), extra)
    pushes = [copy.link for _, copy, delivery in planned if delivery != "local"]
    if pushes:
        db.run_many(insert(deliveries), [events.new_delivery(now, "push", link=link) for link in pushes])
        events.wake()
    items: list[events.Emit] = []
    in_mailboxes = []
    for _, copy, delivery in planned:
        items.append(events.status_event(copy, "accepted", delivery=delivery))
        if copy.state == "sent":
            items.append(events.Emit(copy.recipient, RECEIVED, events.received_event(copy)))
            in_mailboxes.append(copy)
            after_insert(db, copy.recipient)
    events.emit(db, now, items)
    counts = {s: sum(1 for r in recipients if r["status"] == s) for s in ("accepted", "queued", "rejected")}
    result = {"to": target, "message_id": template.message_id, **counts, "recipients": recipients}
    return result, in_mailboxes


def remember(db: Db, template: MessageRecord, result: dict[str, Any]) -> None:
    db.run(
        insert(fanouts),
        {
            "sender": template.sender,
            "message_id": template.message_id,
            "target": template.recipient,
            "md5": template.md5,
            "result": json.dumps(result, separators=(",", ":")),
            "created_at": template.received_at,
            "expires_at": template.expires_at,
        },
    )


__all__ = ["FanoutFile", "FanoutOutcome", "fan_out", "previous", "remember"]
