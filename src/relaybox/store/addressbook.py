"""The address book: contact lists of an account and their contacts (/v1/lists.json,
/v1/contacts.json, ``relaybox contacts``), and the member read of a ``list:<id>`` fan-out.

List ids are server-wide (``request-signing.md``, "Fan-out addressing"); a list belongs to one
account, and every caller check happens in ``relaybox.exchange.addressbook``: the queries here
take ids only. A list name is unique within its account: the schema has no index for it, so
creating or renaming a list first locks the account's row (``FOR UPDATE`` on PostgreSQL; SQLite
already runs one write at a time) and two concurrent creations of one name cannot both pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from relaybox.store.base import Conflict
from relaybox.store.db import Db, Runner
from relaybox.store.schema import accounts, contact_lists, contacts

EXPORT_BATCH = 1000

_MEMBERS = (
    select(contacts.c.route, contacts.c.id).where(contacts.c.list_id == bindparam("list_id")).order_by(contacts.c.id)
)
_OWNER = select(contact_lists.c.account_id).where(contact_lists.c.id == bindparam("list_id"))
_LIST = select(contact_lists).where(contact_lists.c.id == bindparam("list_id"))
_INSERT_CONTACT = insert(contacts)


@dataclass(frozen=True, slots=True)
class ContactListRecord:
    id: int
    account_id: int
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class ContactRecord:
    id: int
    list_id: int
    name: str
    first_name: str
    last_name: str
    email_address: str
    company: str
    phone: str
    address: str
    city: str
    state: str
    zip_code: str
    country: str
    dob: str
    route: str | None
    created_at: float
    updated_at: float


def _list(row: Sequence[Any]) -> ContactListRecord:
    lid, account_id, name, created = row
    return ContactListRecord(id=lid, account_id=account_id, name=name, created_at=created)


def _contact(row: Sequence[Any]) -> ContactRecord:
    # Positional: ``select(contacts)`` yields the columns in the order of schema.py.
    return ContactRecord(*row)


def _name_taken(db: Db, account_id: int, name: str, other_than: int | None = None) -> bool:
    db.first(select(accounts.c.id).where(accounts.c.id == account_id).with_for_update())
    stmt = select(contact_lists.c.id).where(contact_lists.c.account_id == account_id, contact_lists.c.name == name)
    if other_than is not None:
        stmt = stmt.where(contact_lists.c.id != other_than)
    return db.first(stmt) is not None


def _lock_list(db: Db, list_id: int) -> bool:
    """Whether the list exists, its row locked until the end of the transaction (PostgreSQL):
    a contact added meanwhile cannot outlive a concurrent deletion of its list."""
    return db.first(_LIST.with_for_update(), {"list_id": list_id}) is not None


def drop_account_lists(db: Db, account_id: int) -> int:
    """Delete an account's lists and their contacts (for the removal of the account)."""
    owned = select(contact_lists.c.id).where(contact_lists.c.account_id == account_id)
    db.run(delete(contacts).where(contacts.c.list_id.in_(owned.scalar_subquery())))
    return db.run(delete(contact_lists).where(contact_lists.c.account_id == account_id))


class AddressBookStore:
    def __init__(self, q: Runner) -> None:
        self._q = q

    # -- lists -------------------------------------------------------------------------------
    async def lists(self, account_id: int) -> list[ContactListRecord]:
        stmt = select(contact_lists).where(contact_lists.c.account_id == account_id).order_by(contact_lists.c.id)
        return [_list(r) for r in await self._q(lambda db: db.all(stmt), write=False)]

    async def list_counts(self, account_id: int) -> list[tuple[ContactListRecord, int]]:
        """The account's lists with their number of contacts (``relaybox contacts lists``)."""
        count = (
            select(func.count()).select_from(contacts).where(contacts.c.list_id == contact_lists.c.id).scalar_subquery()
        )
        stmt = (
            select(*contact_lists.c, count).where(contact_lists.c.account_id == account_id).order_by(contact_lists.c.id)
        )
        rows = await self._q(lambda db: db.all(stmt), write=False)
        return [(_list(r[:4]), int(r[4])) for r in rows]

    async def get_list(self, list_id: int) -> ContactListRecord | None:
        row = await self._q(lambda db: db.first(_LIST, {"list_id": list_id}), write=False)
        return _list(row) if row else None

    async def list_owner(self, list_id: int) -> int | None:
        """The account a list belongs to; None for an unknown list."""
        row = await self._q(lambda db: db.first(_OWNER, {"list_id": list_id}), write=False)
        return int(row[0]) if row else None

    async def create_list(self, account_id: int, name: str, now: float) -> ContactListRecord:
        """``Conflict`` when the account has a list of that name."""

        def create(db: Db) -> ContactListRecord:
            if _name_taken(db, account_id, name):
                raise Conflict(f"A list named {name} already exists")
            values = {"account_id": account_id, "name": name, "created_at": now}
            return ContactListRecord(db.insert(insert(contact_lists), values), account_id, name, now)

        return await self._q(create, write=True)

    async def rename_list(self, list_id: int, name: str) -> bool:
        """False for an unknown list; ``Conflict`` when another list of the account has the name."""

        def rename(db: Db) -> bool:
            row = db.first(_LIST, {"list_id": list_id})
            if row is None:
                return False
            if _name_taken(db, _list(row).account_id, name, other_than=list_id):
                raise Conflict(f"A list named {name} already exists")
            db.run(update(contact_lists).where(contact_lists.c.id == list_id).values(name=name))
            return True

        return await self._q(rename, write=True)

    async def delete_list(self, list_id: int) -> bool:
        """Delete the list and its contacts; False when there was no such list."""

        def remove(db: Db) -> bool:
            # The list row first: from here on a concurrent contact insert waits for this
            # transaction, then finds no list (``_lock_list``).
            if db.run(delete(contact_lists).where(contact_lists.c.id == list_id)) == 0:
                return False
            db.run(delete(contacts).where(contacts.c.list_id == list_id))
            return True

        return await self._q(remove, write=True)

    # -- contacts ----------------------------------------------------------------------------
    async def emails_page(self, list_id: int, offset: int, limit: int) -> list[tuple[int, str]]:
        """(id, email) of a page of the list's contacts, by id."""
        stmt = (
            select(contacts.c.id, contacts.c.email_address)
            .where(contacts.c.list_id == list_id)
            .order_by(contacts.c.id)
            .offset(offset)
            .limit(limit)
        )
        return [(int(r[0]), str(r[1])) for r in await self._q(lambda db: db.all(stmt), write=False)]

    async def contacts_page(self, list_id: int, offset: int, limit: int) -> list[ContactRecord]:
        stmt = select(contacts).where(contacts.c.list_id == list_id).order_by(contacts.c.id).offset(offset).limit(limit)
        return [_contact(r) for r in await self._q(lambda db: db.all(stmt), write=False)]

    async def contacts_after(self, list_id: int, after_id: int, limit: int = EXPORT_BATCH) -> list[ContactRecord]:
        """The next ``limit`` contacts with an id above ``after_id`` (keyset paging for exports)."""
        stmt = (
            select(contacts)
            .where(contacts.c.list_id == list_id, contacts.c.id > after_id)
            .order_by(contacts.c.id)
            .limit(limit)
        )
        return [_contact(r) for r in await self._q(lambda db: db.all(stmt), write=False)]

    async def get_contact(self, list_id: int, contact_id: int) -> ContactRecord | None:
        stmt = select(contacts).where(contacts.c.id == contact_id, contacts.c.list_id == list_id)
        row = await self._q(lambda db: db.first(stmt), write=False)
        return _contact(row) if row else None

    async def add_contact(self, list_id: int, fields: Mapping[str, Any], now: float) -> int | None:
        """The new contact's id; None when the list is gone."""

        def add(db: Db) -> int | None:
            if not _lock_list(db, list_id):
                return None
            values = {**fields, "list_id": list_id, "created_at": now, "updated_at": now}
            return db.insert(_INSERT_CONTACT, values)

        return await self._q(add, write=True)

    async def update_contact(self, list_id: int, contact_id: int, fields: Mapping[str, Any], now: float) -> bool:
        stmt = (
            update(contacts)
            .where(contacts.c.id == contact_id, contacts.c.list_id == list_id)
            .values(**fields, updated_at=now)
        )
        return await self._q(lambda db: db.run(stmt), write=True) > 0

    async def delete_contact(self, list_id: int, contact_id: int) -> bool:
        stmt = delete(contacts).where(contacts.c.id == contact_id, contacts.c.list_id == list_id)
        return await self._q(lambda db: db.run(stmt), write=True) > 0

    async def import_contacts(self, list_id: int, rows: Sequence[Mapping[str, Any]], now: float) -> int | None:
        """Add ``rows`` (complete contact fields) in one transaction: all or, on a failure,
        none. The number added; None when the list is gone."""

        def add(db: Db) -> int | None:
            if not _lock_list(db, list_id):
                return None
            values = [{**r, "list_id": list_id, "created_at": now, "updated_at": now} for r in rows]
            db.run_many(_INSERT_CONTACT, values)  # one executemany on both drivers
            return len(rows)

        return await self._q(add, write=True)

    # -- fan-out -----------------------------------------------------------------------------
    async def member_routes(self, list_id: int) -> list[tuple[str | None, int]]:
        """(route, contact id) of every contact of the list, by contact id: one query, plain
        tuples (a send to a list of 10,000 contacts reads them at once). Empty for an unknown
        list; ask ``list_owner`` to tell the two apart."""
        rows = await self._q(lambda db: db.all(_MEMBERS, {"list_id": list_id}), write=False)
        return [(r[0], r[1]) for r in rows]


__all__ = [
    "EXPORT_BATCH",
    "AddressBookStore",
    "ContactListRecord",
    "ContactRecord",
    "drop_account_lists",
]
