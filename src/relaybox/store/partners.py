"""Partners: a station's counterpart routes (/v1/partner), and partner resolution.

Partner resolution decides, for one side of a message, its ``partnerType`` and (sender side)
whether a receipt is requested: the station's record for the other route, Production first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, literal_column, or_, select, update
from sqlalchemy.exc import IntegrityError

from relaybox.auth.sealed import Sealer
from relaybox.store.base import Conflict, PartnerRecord
from relaybox.store.db import Db, Runner
from relaybox.store.schema import messages, partners

# 'Production' sorts before 'Test': the first row is the resolved record.
_RESOLVE = (
    select(partners)
    .where(partners.c.station == bindparam("station"), partners.c.route == bindparam("other"))
    .order_by(partners.c.partner_type)
    .limit(1)
)
# Both directions of a pair in one probe (the route API's send path resolves both sides).
_PAIR = (
    select(partners)
    .where(
        or_(
            and_(partners.c.station == bindparam("a"), partners.c.route == bindparam("b")),
            and_(partners.c.station == bindparam("b"), partners.c.route == bindparam("a")),
        )
    )
    .order_by(partners.c.partner_type)
)
_FIELDS = (
    "route",
    "name",
    "description",
    "uri",
    "message_subject",
    "custom_headers",
    "pause_incoming",
    "pause_outgoing",
    "send_timeout",
    "request_mdn",
    "partner_type",
    "transport",
    "remote_route",
    "remote_secret",
    "push_secret",
)


def partner_from_row(row: Sequence[Any]) -> PartnerRecord:
    """A partner as stored: ``remote_secret``/``push_secret`` sealed when a master key is set
    (opened only where a push is signed, ``Store.sealer.open``)."""
    (pid, station, route, ptype, name, desc, uri, subject, headers, p_in, p_out, timeout, mdn, created,
     transport, remote_route, remote_secret, push_secret) = row  # fmt: skip
    return PartnerRecord(
        id=pid,
        station=station,
        route=route,
        partner_type=ptype,
        name=name,
        description=desc,
        uri=uri,
        message_subject=subject,
        custom_headers=tuple((h["headerKey"], h["headerValue"]) for h in json.loads(headers)),
        pause_incoming=bool(p_in),
        pause_outgoing=bool(p_out),
        send_timeout=timeout,
        request_mdn=bool(mdn),
        created_at=created,
        transport=transport,
        remote_route=remote_route,
        remote_secret=remote_secret,
        push_secret=push_secret,
    )


_SECRETS = ("remote_secret", "push_secret")


def _values(fields: Mapping[str, Any], sealer: Sealer) -> dict[str, Any]:
    values = {k: v for k, v in fields.items() if k in _FIELDS}
    for name in _SECRETS:
        if values.get(name) is not None:
            values[name] = sealer.seal(values[name])
    if "custom_headers" in values:
        values["custom_headers"] = json.dumps([{"headerKey": k, "headerValue": v} for k, v in values["custom_headers"]])
    return values


def resolve(db: Db, station: str, other: str) -> PartnerRecord | None:
    """``station``'s partner record for route ``other``: Production if there is one, else Test."""
    row = db.first(_RESOLVE, {"station": station, "other": other})
    return partner_from_row(row) if row else None


def resolve_pair(db: Db, a: str, b: str) -> tuple[PartnerRecord | None, PartnerRecord | None]:
    """(``a``'s record for ``b``, ``b``'s record for ``a``), each Production first."""
    forward = backward = None
    for row in db.all(_PAIR, {"a": a, "b": b}):
        p = partner_from_row(row)
        if forward is None and p.station == a and p.route == b:
            forward = p
        if backward is None and p.station == b and p.route == a:
            backward = p
    return forward, backward


class PartnerStore:
    def __init__(self, q: Runner, sealer: Callable[[], Sealer]) -> None:
        self._q = q
        # Push secrets sign for this server (symmetric schemes): sealed at rest like route secrets.
        self._sealer = sealer

    async def add(self, station: str, route: str, fields: Mapping[str, Any], now: float) -> PartnerRecord:
        """Raise ``Conflict`` when (station, route, partner_type) exists."""
        values = {**_values(fields, self._sealer()), "station": station, "route": route, "created_at": now}

        def add(db: Db) -> PartnerRecord:
            pid = db.insert(insert(partners), values)
            row = db.first(select(partners).where(partners.c.id == pid))
            assert row is not None
            return partner_from_row(row)

        try:
            return await self._q(add, write=True)
        except IntegrityError:
            raise Conflict(f"{station} already has a {values['partner_type']} partner {route}") from None

    async def resolved(self, station: str, other: str) -> PartnerRecord | None:
        """Partner resolution: ``station``'s record for route ``other``, Production first."""
        return await self._q(lambda db: resolve(db, station, other), write=False)

    async def find(self, station: str, route: str, partner_type: str) -> PartnerRecord | None:
        stmt = select(partners).where(
            partners.c.station == station, partners.c.route == route, partners.c.partner_type == partner_type
        )
        row = await self._q(lambda db: db.first(stmt), write=False)
        return partner_from_row(row) if row else None

    async def get(self, partner_id: int) -> PartnerRecord | None:
        row = await self._q(lambda db: db.first(select(partners).where(partners.c.id == partner_id)), write=False)
        return partner_from_row(row) if row else None

    async def search(self, stations: Sequence[str], query: str | None = None) -> list[PartnerRecord]:
        stmt = select(partners).where(partners.c.station.in_(list(stations))).order_by(partners.c.id)
        if query:
            pattern = "%" + like_escape(query) + "%"
            stmt = stmt.where(
                or_(partners.c.name.ilike(pattern, escape="\\"), partners.c.route.ilike(pattern, escape="\\"))
            )
        rows = await self._q(lambda db: db.all(stmt), write=False)
        return [partner_from_row(r) for r in rows]

    async def update(self, partner_id: int, fields: Mapping[str, Any]) -> tuple[PartnerRecord, PartnerRecord] | None:
        """Apply a partial update; (before, after), or None for an unknown id. ``Conflict``
        when the new partner_type collides."""
        values = _values(fields, self._sealer())

        def change(db: Db) -> tuple[PartnerRecord, PartnerRecord] | None:
            row = db.first(select(partners).where(partners.c.id == partner_id))
            if row is None:
                return None
            if values:
                db.run(update(partners).where(partners.c.id == partner_id).values(**values))
            after = db.first(select(partners).where(partners.c.id == partner_id))
            assert after is not None
            return partner_from_row(row), partner_from_row(after)

        try:
            return await self._q(change, write=True)
        except IntegrityError:
            raise Conflict("a partner of that station, route and type already exists") from None

    async def remove(self, partner_id: int) -> PartnerRecord | None:
        """Delete the partner; its queued messages become stopped (they are never delivered
        unless retried)."""

        def remove(db: Db) -> PartnerRecord | None:
            row = db.first(select(partners).where(partners.c.id == partner_id))
            if row is None:
                return None
            p = partner_from_row(row)
            db.run(delete(partners).where(partners.c.id == partner_id))
            db.run(
                update(messages)
                .where(
                    messages.c.sender == p.station,
                    messages.c.recipient == p.route,
                    messages.c.sender_type == p.partner_type,
                    messages.c.state == literal_column("'queued'"),
                )
                .values(state="stopped")
            )
            return p

        return await self._q(remove, write=True)


def like_escape(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


__all__ = ["PartnerStore", "like_escape", "partner_from_row", "resolve", "resolve_pair"]
