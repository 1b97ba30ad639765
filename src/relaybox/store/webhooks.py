"""Webhook endpoints (/v1/webhooks) and their deliveries' lists and controls.

An endpoint belongs to a station; every query here takes the caller's stations so that one
station never sees another's endpoints or deliveries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from relaybox.auth.sealed import Sealer
from relaybox.store.base import DeliveryFailure, DeliveryRecord, WebhookRecord
from relaybox.store.db import Db, Runner
from relaybox.store.events import wake
from relaybox.store.schema import deliveries, delivery_failures, events, webhooks

_STOPPED_BY_DISABLE = "endpoint disabled"


def webhook_from_row(row: Sequence[Any]) -> WebhookRecord:
    """An endpoint as stored: ``secret`` sealed when a master key is set (opened only where a
    delivery is signed, ``Store.sealer.open``)."""
    (wid, station, url, types, enabled, desc, standard, timeout, secret, reason, failing, created, updated) = row
    return WebhookRecord(
        id=wid,
        station=station,
        url=url,
        event_types=tuple(types.split(",")),
        enabled=bool(enabled),
        description=desc,
        standard_webhooks=bool(standard),
        timeout=timeout,
        secret=secret,
        disabled_reason=reason,
        failing_since=failing,
        created_at=created,
        updated_at=updated,
    )


def delivery_from_row(row: Sequence[Any]) -> DeliveryRecord:
    return DeliveryRecord(*row[:17])


def failure_from_row(row: Sequence[Any]) -> DeliveryFailure:
    return DeliveryFailure(*row[1:])


def _values(fields: Mapping[str, Any], sealer: Sealer) -> dict[str, Any]:
    values = dict(fields)
    if values.get("secret") is not None:
        values["secret"] = sealer.seal(values["secret"])
    if "event_types" in values:
        values["event_types"] = ",".join(values["event_types"])
    return values


def disable(db: Db, webhook_id: str, reason: str, now: float) -> None:
    """Disable an endpoint; its queued deliveries stop (an attempt in flight finishes)."""
    db.run(
        update(webhooks)
        .where(webhooks.c.id == webhook_id)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
    )
    db.run(
        update(deliveries)
        .where(deliveries.c.webhook_id == webhook_id, deliveries.c.state == "queued")
        .values(state="stopped", stop_reason=_STOPPED_BY_DISABLE, next_at=None)
    )


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    kind: str  # queued | sent | failed (the list); stopped only for deletion
    stations: tuple[str, ...]
    webhook_id: str | None = None
    event_type: str | None = None
    query: str | None = None  # an exact event or delivery id
    descending: bool = True
    offset: int = 0
    limit: int = 10
    delivery_id: str | None = None


_STATES = {"queued": ("queued", "stopped"), "stopped": ("stopped",), "sent": ("sent",)}


class WebhookStore:
    def __init__(self, q: Runner, sealer: Callable[[], Sealer]) -> None:
        self._q = q
        # Endpoint secrets sign our deliveries: sealed at rest like route secrets.
        self._sealer = sealer

    # -- endpoints ---------------------------------------------------------------------------
    async def add(self, fields: Mapping[str, Any], most: int) -> WebhookRecord | None:
        """None when the station already has ``most`` endpoints."""

        def add(db: Db) -> WebhookRecord | None:
            have = db.first(select(func.count()).select_from(webhooks).where(webhooks.c.station == fields["station"]))
            if have is not None and int(have[0]) >= most:
                return None
            db.run(insert(webhooks).values(**_values(fields, self._sealer())))
            row = db.first(select(webhooks).where(webhooks.c.id == fields["id"]))
            assert row is not None
            return webhook_from_row(row)

        return await self._q(add, write=True)

    async def get(self, webhook_id: str) -> WebhookRecord | None:
        row = await self._q(lambda db: db.first(select(webhooks).where(webhooks.c.id == webhook_id)), write=False)
        return webhook_from_row(row) if row else None

    async def page(self, stations: Sequence[str], offset: int, limit: int) -> tuple[int, list[WebhookRecord]]:
        where = webhooks.c.station.in_(list(stations))

        def read(db: Db) -> tuple[int, list[WebhookRecord]]:
            total = db.first(select(func.count()).select_from(webhooks).where(where))
            rows = db.all(
                select(webhooks).where(where).order_by(webhooks.c.created_at, webhooks.c.id).offset(offset).limit(limit)
            )
            return (int(total[0]) if total else 0), [webhook_from_row(r) for r in rows]

        return await self._q(read, write=False)

    async def update(self, webhook_id: str, changes: Mapping[str, Any], now: float) -> WebhookRecord | None:
        """Apply ``changes``; ``enabled`` false disables (reason ``user``), true clears the
        reason and the failure streak. None when the endpoint is gone."""

        def change(db: Db) -> WebhookRecord | None:
            row = db.first(select(webhooks).where(webhooks.c.id == webhook_id))
            if row is None:
                return None
            current = webhook_from_row(row)
            values = _values({k: v for k, v in changes.items() if k != "enabled"}, self._sealer())
            enabled = changes.get("enabled")
            if enabled is True:
                values.update(enabled=True, disabled_reason=None, failing_since=None)
            values["updated_at"] = now
            db.run(update(webhooks).where(webhooks.c.id == webhook_id).values(**values))
            if enabled is False and current.enabled:
                disable(db, webhook_id, "user", now)
            found = db.first(select(webhooks).where(webhooks.c.id == webhook_id))
            return webhook_from_row(found) if found else None

        return await self._q(change, write=True)

    async def remove(self, webhook_id: str) -> bool:
        def remove(db: Db) -> bool:
            ids = [r[0] for r in db.all(select(deliveries.c.id).where(deliveries.c.webhook_id == webhook_id))]
            db.run(delete(delivery_failures).where(delivery_failures.c.webhook_id == webhook_id))
            db.run(delete(deliveries).where(deliveries.c.webhook_id == webhook_id))
            drop_orphan_events(db)
            return db.run(delete(webhooks).where(webhooks.c.id == webhook_id)) > 0 or bool(ids)

        return await self._q(remove, write=True)

    async def list_all(self, station: str | None = None) -> list[WebhookRecord]:
        stmt = select(webhooks).order_by(webhooks.c.station, webhooks.c.created_at)
        if station is not None:
            stmt = stmt.where(webhooks.c.station == station)
        return [webhook_from_row(r) for r in await self._q(lambda db: db.all(stmt), write=False)]

    # -- deliveries ---------------------------------------------------------------------------
    def _conditions(self, q: DeliveryQuery) -> list[ColumnElement[bool]]:
        d = deliveries.c
        owned = select(webhooks.c.id).where(webhooks.c.station.in_(list(q.stations))).scalar_subquery()
        conds: list[ColumnElement[bool]] = [d.kind == "webhook", d.webhook_id.in_(owned)]
        if q.kind != "failed":
            conds.append(d.state.in_(_STATES[q.kind]))
        if q.webhook_id is not None:
            conds.append(d.webhook_id == q.webhook_id)
        if q.event_type is not None:
            conds.append(d.event_type == q.event_type)
        if q.query is not None:
            conds.append(or_(d.event_id == q.query, d.id == q.query))
        if q.delivery_id is not None:
            conds.append(d.id == q.delivery_id)
        return conds

    async def deliveries_page(self, q: DeliveryQuery) -> tuple[int, list[DeliveryRecord | DeliveryFailure]]:
        """A page of a delivery list: deliveries, or (``failed``) failure entries."""
        conds = self._conditions(q)
        if q.kind == "failed":
            f = delivery_failures.c
            source = delivery_failures.join(deliveries, deliveries.c.id == f.delivery_id)
            order = [f.attempted_at.desc(), f.id.desc()] if q.descending else [f.attempted_at, f.id]
            stmt: Any = select(delivery_failures).select_from(source).where(*conds).order_by(*order)
            count: Any = select(func.count()).select_from(source).where(*conds)
            convert: Any = failure_from_row
        else:
            d = deliveries.c
            order = [d.created_at.desc(), d.id.desc()] if q.descending else [d.created_at, d.id]
            stmt = select(deliveries).where(*conds).order_by(*order)
            count = select(func.count()).select_from(deliveries).where(*conds)
            convert = delivery_from_row

        def read(db: Db) -> tuple[int, list[DeliveryRecord | DeliveryFailure]]:
            total = db.first(count)
            rows = db.all(stmt.offset(q.offset).limit(q.limit))
            return (int(total[0]) if total else 0), [convert(r) for r in rows]

        return await self._q(read, write=False)

    async def stop(self, stations: Sequence[str], delivery_id: str) -> bool:
        q = DeliveryQuery("queued", tuple(stations), delivery_id=delivery_id)
        conds = self._conditions(q)

        def stop(db: Db) -> bool:
            if db.first(select(deliveries.c.id).where(*conds)) is None:
                return False
            db.run(
                update(deliveries)
                .where(*conds, deliveries.c.state == "queued")
                .values(state="stopped", stop_reason="stopped", next_at=None)
            )
            return True

        return await self._q(stop, write=True)

    async def retry(self, stations: Sequence[str], delivery_id: str, now: float) -> bool | None:
        """True when retrying, False for an endpoint that is disabled, None when not found."""
        conds = self._conditions(DeliveryQuery("queued", tuple(stations), delivery_id=delivery_id))

        def retry(db: Db) -> bool | None:
            row = db.first(select(deliveries).where(*conds))
            if row is None:
                return None
            found = delivery_from_row(row)
            hook = db.first(select(webhooks.c.enabled).where(webhooks.c.id == found.webhook_id))
            if hook is None or not hook[0]:
                return False
            values: dict[str, Any] = {"next_at": now}
            if found.state == "stopped":
                # The schedule starts over at attempt 1.
                values.update(state="queued", attempts=0, stop_reason=None)
            db.run(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))
            wake()
            return True

        return await self._q(retry, write=True)

    async def delete_deliveries(self, kind: str, stations: Sequence[str], ids: Sequence[str]) -> int:
        """Delete deliveries of a list (``failed``: their failure entries); unknown ids are skipped."""
        q = DeliveryQuery(kind if kind != "failed" else "queued", tuple(stations))
        conds = self._conditions(q) if kind != "failed" else self._conditions(DeliveryQuery("failed", tuple(stations)))
        wanted = list(dict.fromkeys(ids))

        def remove(db: Db) -> int:
            found = [r[0] for r in db.all(select(deliveries.c.id).where(*conds, deliveries.c.id.in_(wanted)))]
            if kind == "failed":
                found = [
                    r[0]
                    for r in db.all(
                        select(delivery_failures.c.delivery_id)
                        .where(delivery_failures.c.delivery_id.in_(found))
                        .distinct()
                    )
                ]
                db.run(delete(delivery_failures).where(delivery_failures.c.delivery_id.in_(found)))
                return len(found)
            if found:
                db.run(delete(delivery_failures).where(delivery_failures.c.delivery_id.in_(found)))
                db.run(delete(deliveries).where(deliveries.c.id.in_(found)))
                drop_orphan_events(db)
            return len(found)

        return await self._q(remove, write=True)

    async def event_body(self, event_id: str) -> bytes | None:
        row = await self._q(lambda db: db.first(select(events.c.body).where(events.c.id == event_id)), write=False)
        return row[0].encode("utf-8") if row else None


def drop_orphan_events(db: Db) -> None:
    """Events no delivery needs any more."""
    db.run(delete(events).where(~select(deliveries.c.id).where(deliveries.c.event_id == events.c.id).exists()))


__all__ = ["DeliveryQuery", "WebhookStore", "delivery_from_row", "disable", "drop_orphan_events", "webhook_from_row"]
