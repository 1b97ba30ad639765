"""Accounts (people or systems that log in to /v1), their stations, and server-wide keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from relaybox.store.addressbook import drop_account_lists
from relaybox.store.base import AccountRecord, Conflict, StationRecord
from relaybox.store.db import AlchemyDb, Db, Runner
from relaybox.store.schema import (
    account_stations,
    accounts,
    api_keys,
    contact_lists,
    contacts,
    partners,
    reads,
    server_keys,
    stations,
    webhooks,
)

_BY_ID = select(accounts).where(accounts.c.id == bindparam("id"))


def _account(row: Sequence[Any]) -> AccountRecord:
    aid, email, password_hash, pwv, created = row
    return AccountRecord(id=aid, email=email, password_hash=password_hash, password_version=pwv, created_at=created)


def _station(row: Sequence[Any]) -> StationRecord:
    sid, route, name, comments = row[:4]
    return StationRecord(id=sid, route=route, name=name, comments=comments)


_STATION_COLS = (stations.c.id, stations.c.route, stations.c.name, stations.c.comments)
_STATIONS_OF = (
    select(*_STATION_COLS)
    .join(account_stations, account_stations.c.station_id == stations.c.id)
    .where(account_stations.c.account_id == bindparam("account_id"))
    .order_by(stations.c.route)
)


class AccountStore:
    def __init__(self, q: Runner) -> None:
        self._q = q

    # -- accounts --------------------------------------------------------------------------
    async def add(self, email: str, password_hash: str, now: float) -> AccountRecord:
        """Raise ``Conflict`` when the email is taken."""

        def add(db: Db) -> AccountRecord:
            aid = db.insert(
                insert(accounts),
                {"email": email, "password_hash": password_hash, "password_version": 1, "created_at": now},
            )
            return AccountRecord(aid, email, password_hash, 1, now)

        try:
            return await self._q(add, write=True)
        except IntegrityError:
            raise Conflict(f"account {email} already exists") from None

    async def get(self, email: str) -> AccountRecord | None:
        row = await self._q(lambda db: db.first(select(accounts).where(accounts.c.email == email)), write=False)
        return _account(row) if row else None

    async def get_by_id(self, account_id: int) -> AccountRecord | None:
        row = await self._q(lambda db: db.first(_BY_ID, {"id": account_id}), write=False)
        return _account(row) if row else None

    async def set_password(self, email: str, password_hash: str) -> bool:
        stmt = (
            update(accounts)
            .where(accounts.c.email == email)
            .values(password_hash=password_hash, password_version=accounts.c.password_version + 1)
        )
        return await self._q(lambda db: db.run(stmt), write=True) > 0

    async def remove(self, email: str) -> bool:
        def remove(db: Db) -> bool:
            row = db.first(select(accounts.c.id).where(accounts.c.email == email))
            if row is None:
                return False
            db.run(delete(account_stations).where(account_stations.c.account_id == row[0]))
            db.run(delete(reads).where(reads.c.account_id == row[0]))
            db.run(delete(api_keys).where(api_keys.c.account_id == row[0]))
            drop_account_lists(db, row[0])
            db.run(delete(accounts).where(accounts.c.id == row[0]))
            return True

        return await self._q(remove, write=True)

    async def list_all(self) -> list[tuple[AccountRecord, list[str]]]:
        def read(db: Db) -> list[tuple[AccountRecord, list[str]]]:
            rows = db.all(select(accounts).order_by(accounts.c.email))
            links = db.all(
                select(account_stations.c.account_id, stations.c.route)
                .join(stations, stations.c.id == account_stations.c.station_id)
                .order_by(stations.c.route)
            )
            by_account: dict[int, list[str]] = {}
            for aid, route in links:
                by_account.setdefault(aid, []).append(route)
            return [(_account(r), by_account.get(r[0], [])) for r in rows]

        return await self._q(read, write=False)

    # -- stations --------------------------------------------------------------------------
    async def stations_of(self, account_id: int) -> list[StationRecord]:
        rows = await self._q(lambda db: db.all(_STATIONS_OF, {"account_id": account_id}), write=False)
        return [_station(r) for r in rows]

    async def link(self, email: str, route: str, name: str | None, comments: str | None, now: float) -> bool:
        """Make ``route`` a station of the account (creating the station record); False when it
        already was. ``name``/``comments`` update the station when given. ``LookupError`` for
        an unknown account."""

        def link(db: Db) -> bool:
            acc = db.first(select(accounts.c.id).where(accounts.c.email == email))
            if acc is None:
                raise LookupError(email)
            row = db.first(select(stations.c.id).where(stations.c.route == route))
            if row is None:
                sid = db.insert(
                    insert(stations), {"route": route, "name": name, "comments": comments, "created_at": now}
                )
            else:
                sid = row[0]
                changes = {k: v for k, v in (("name", name), ("comments", comments)) if v is not None}
                if changes:
                    db.run(update(stations).where(stations.c.id == sid).values(**changes))
            linked = db.first(
                select(account_stations.c.station_id).where(
                    account_stations.c.account_id == acc[0], account_stations.c.station_id == sid
                )
            )
            if linked is not None:
                return False
            db.run(insert(account_stations).values(account_id=acc[0], station_id=sid))
            return True

        return await self._q(link, write=True)

    async def unlink(self, email: str, route: str) -> bool:
        def unlink(db: Db) -> bool:
            acc = db.first(select(accounts.c.id).where(accounts.c.email == email))
            st = db.first(select(stations.c.id).where(stations.c.route == route))
            if acc is None or st is None:
                return False
            return (
                db.run(
                    delete(account_stations).where(
                        account_stations.c.account_id == acc[0], account_stations.c.station_id == st[0]
                    )
                )
                > 0
            )

        return await self._q(unlink, write=True)

    async def links(self, email: str | None = None) -> list[tuple[str, str, str | None]]:
        """(email, route, station name) of every account-station link, or one account's."""
        stmt = (
            select(accounts.c.email, stations.c.route, stations.c.name)
            .join(account_stations, account_stations.c.account_id == accounts.c.id)
            .join(stations, stations.c.id == account_stations.c.station_id)
            .order_by(accounts.c.email, stations.c.route)
        )
        if email is not None:
            stmt = stmt.where(accounts.c.email == email)
        rows = await self._q(lambda db: db.all(stmt), write=False)
        return [(r[0], r[1], r[2]) for r in rows]

    # -- db copy ---------------------------------------------------------------------------
    async def export_directory(self) -> Directory:
        return await export_directory(self._q)

    async def import_directory(self, directory: Directory) -> int:
        return await import_directory(self._q, directory)

    # -- server keys -----------------------------------------------------------------------
    async def server_key(self, name: str, make: Callable[[], bytes], now: float) -> bytes:
        """The key stored under ``name``, made and stored on first use. Nodes starting together
        agree: the first insert wins and everyone reads it back."""
        stmt = select(server_keys.c.value).where(server_keys.c.name == name)
        row = await self._q(lambda db: db.first(stmt), write=False)
        if row is not None:
            return bytes(row[0])
        try:
            await self._q(
                lambda db: db.run(insert(server_keys).values(name=name, value=make(), created_at=now)), write=True
            )
        except IntegrityError:
            pass  # another node made it first
        row = await self._q(lambda db: db.first(stmt), write=False)
        assert row is not None
        return bytes(row[0])


def drop_station(db: Db, route: str) -> None:
    """Remove a route's station record and its account links (``route remove``)."""
    row = db.first(select(stations.c.id).where(stations.c.route == route))
    if row is not None:
        db.run(delete(account_stations).where(account_stations.c.station_id == row[0]))
        db.run(delete(stations).where(stations.c.id == row[0]))


__all__ = ["AccountStore", "Directory", "drop_station", "export_directory", "import_directory"]


# -- db copy --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Directory:
    """Everything of the management API that is not a message (``relaybox db copy``). Rows are
    plain column tuples in schema order, without the store-local integer ids where they differ."""

    accounts: list[tuple[Any, ...]]  # (email, password_hash, password_version, created_at)
    stations: list[tuple[Any, ...]]  # (route, name, comments, created_at)
    links: list[tuple[str, str]]  # (email, route)
    partners: list[tuple[Any, ...]]  # partners row without id
    keys: list[tuple[Any, ...]]  # (name, value, created_at)
    webhooks: list[tuple[Any, ...]] = field(default_factory=list)  # webhooks rows (ids are ULIDs: kept)
    api_keys: list[tuple[Any, ...]] = field(default_factory=list)  # (email, *api_keys row without account_id)
    lists: list[tuple[Any, ...]] = field(default_factory=list)  # (id, email, name, created_at)
    contacts: list[tuple[Any, ...]] = field(default_factory=list)  # contacts rows (ids kept: clients use them)


async def export_directory(q: Runner) -> Directory:
    def read(db: Db) -> Directory:
        return Directory(
            accounts=[tuple(r[1:]) for r in db.all(select(accounts).order_by(accounts.c.id))],
            stations=[tuple(r[1:]) for r in db.all(select(stations).order_by(stations.c.id))],
            links=[
                (r[0], r[1])
                for r in db.all(
                    select(accounts.c.email, stations.c.route)
                    .join(account_stations, account_stations.c.account_id == accounts.c.id)
                    .join(stations, stations.c.id == account_stations.c.station_id)
                )
            ],
            partners=[tuple(r[1:]) for r in db.all(select(partners).order_by(partners.c.id))],
            keys=[tuple(r) for r in db.all(select(server_keys))],
            webhooks=[tuple(r) for r in db.all(select(webhooks).order_by(webhooks.c.created_at))],
            api_keys=[
                (r[-1], *(v for c, v in zip(api_keys.columns, r[:-1], strict=True) if c.name != "account_id"))
                for r in db.all(
                    select(api_keys, accounts.c.email).join(accounts, accounts.c.id == api_keys.c.account_id)
                )
            ],
            lists=[
                tuple(r)
                for r in db.all(
                    select(contact_lists.c.id, accounts.c.email, contact_lists.c.name, contact_lists.c.created_at)
                    .join(accounts, accounts.c.id == contact_lists.c.account_id)
                    .order_by(contact_lists.c.id)
                )
            ],
            contacts=[tuple(r) for r in db.all(select(contacts).order_by(contacts.c.id))],
        )

    return await q(read, write=False)


async def import_directory(q: Runner, d: Directory) -> int:
    """Add what the target lacks (matched by email, route, (station, route, type), key name);
    never changes what is there. The number of rows added."""

    def write(db: Db) -> int:
        added = 0
        have = {r[0] for r in db.all(select(accounts.c.email))}
        for email, password_hash, pwv, created in d.accounts:
            if email not in have:
                db.run(
                    insert(accounts).values(
                        email=email, password_hash=password_hash, password_version=pwv, created_at=created
                    )
                )
                added += 1
        have = {r[0] for r in db.all(select(stations.c.route))}
        for route, name, comments, created in d.stations:
            if route not in have:
                db.run(insert(stations).values(route=route, name=name, comments=comments, created_at=created))
                added += 1
        account_ids = {r[1]: r[0] for r in db.all(select(accounts.c.id, accounts.c.email))}
        station_ids = {r[1]: r[0] for r in db.all(select(stations.c.id, stations.c.route))}
        linked = {(r[0], r[1]) for r in db.all(select(account_stations))}
        for email, route in d.links:
            pair = (account_ids[email], station_ids[route])
            if pair not in linked:
                db.run(insert(account_stations).values(account_id=pair[0], station_id=pair[1]))
                added += 1
        have = {
            (r[0], r[1], r[2]) for r in db.all(select(partners.c.station, partners.c.route, partners.c.partner_type))
        }
        names = [c.name for c in partners.columns][1:]
        for row in d.partners:
            values = dict(zip(names, row, strict=True))
            if (values["station"], values["route"], values["partner_type"]) not in have:
                db.run(insert(partners).values(**values))
                added += 1
        have = {r[0] for r in db.all(select(server_keys.c.name))}
        for name, value, created in d.keys:
            if name not in have:
                db.run(insert(server_keys).values(name=name, value=value, created_at=created))
                added += 1
        # Webhook endpoints with their secrets (receivers keep verifying); the deliveries of the
        # old store stay there.
        have = {r[0] for r in db.all(select(webhooks.c.id))}
        hook_columns = [c.name for c in webhooks.columns]
        for row in d.webhooks:
            values = dict(zip(hook_columns, row, strict=True))
            if values["id"] not in have:
                db.run(insert(webhooks).values(**values))
                added += 1
        added += _import_book(db, d)
        return added

    return await q(write, write=True)


def _import_book(db: Db, d: Directory) -> int:
    """API keys (by public key) and the address book, keeping list and contact ids (they are
    in clients' hands: ``list:7``, ``contact/42``); a list whose id is taken here is skipped
    with its contacts."""
    account_ids = {r[1]: r[0] for r in db.all(select(accounts.c.id, accounts.c.email))}
    added = 0
    have = {r[0] for r in db.all(select(api_keys.c.public_key))}
    names = [c.name for c in api_keys.columns if c.name != "account_id"]
    for email, *row in d.api_keys:
        values = dict(zip(names, row, strict=True))
        if values["public_key"] not in have and email in account_ids:
            db.run(insert(api_keys).values(account_id=account_ids[email], **values))
            added += 1
    taken = {r[0] for r in db.all(select(contact_lists.c.id))}
    copied: set[int] = set()
    for list_id, email, name, created in d.lists:
        if list_id not in taken and email in account_ids:
            db.run(
                insert(contact_lists).values(id=list_id, account_id=account_ids[email], name=name, created_at=created)
            )
            copied.add(list_id)
            added += 1
    columns = [c.name for c in contacts.columns]
    rows = [dict(zip(columns, r, strict=True)) for r in d.contacts]
    rows = [r for r in rows if r["list_id"] in copied]
    db.run_many(insert(contacts), rows)
    added += len(rows)
    if isinstance(db, AlchemyDb) and db.conn.dialect.name == "postgresql":
        # Ids given explicitly do not move PostgreSQL's sequences (SQLite's AUTOINCREMENT follows).
        for table in ("contact_lists", "contacts"):
            db.first(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
            )
    return added
