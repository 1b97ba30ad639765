"""The address book's use cases: an account's contact lists and their contacts (/v1), and the
CSV import of ``relaybox contacts import``.

A list belongs to one account; another account's list, or a contact of it, is 404 exactly as
an unknown one is (nothing reveals that an id exists). Input rules are the pure ones of
``relaybox.wire.contacts``; nothing here knows HTTP. Refusals are ``V1Error``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from relaybox.errors import V1Error, not_found
from relaybox.exchange.identity import Caller
from relaybox.store.addressbook import AddressBookStore, ContactListRecord, ContactRecord
from relaybox.store.base import Conflict
from relaybox.wire import contacts as rules


def list_not_found(list_id: int) -> V1Error:
    return not_found(f"List {list_id} not found")


def contact_not_found(contact_id: int) -> V1Error:
    return not_found(f"Contact {contact_id} not found")


class AddressBook:
    def __init__(self, store: AddressBookStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def own_list(self, caller: Caller, list_id: int) -> ContactListRecord:
        found = await self.store.get_list(list_id)
        if found is None or found.account_id != caller.account_id:
            raise list_not_found(list_id)
        return found

    # -- lists -------------------------------------------------------------------------------
    async def lists(self, caller: Caller) -> list[ContactListRecord]:
        return await self.store.lists(caller.account_id)

    async def create_list(self, caller: Caller, name: str) -> ContactListRecord:
        """409 when the account already has a list of that name (names are unique per account:
        a fan-out or a CSV import names its list by id, people pick it by name)."""
        try:
            return await self.store.create_list(caller.account_id, rules.list_name(name), self.clock())
        except Conflict as exc:
            raise V1Error(409, str(exc)) from None

    async def rename_list(self, caller: Caller, list_id: int, name: str) -> None:
        await self.own_list(caller, list_id)
        try:
            if not await self.store.rename_list(list_id, rules.list_name(name)):
                raise list_not_found(list_id)
        except Conflict as exc:
            raise V1Error(409, str(exc)) from None

    async def delete_list(self, caller: Caller, list_id: int) -> None:
        await self.own_list(caller, list_id)
        if not await self.store.delete_list(list_id):
            raise list_not_found(list_id)

    # -- contacts ----------------------------------------------------------------------------
    async def emails(self, caller: Caller, list_id: int, offset: int, limit: int) -> list[tuple[int, str]]:
        await self.own_list(caller, list_id)
        return await self.store.emails_page(list_id, offset, limit)

    async def contacts(self, caller: Caller, list_id: int, offset: int, limit: int) -> list[ContactRecord]:
        await self.own_list(caller, list_id)
        return await self.store.contacts_page(list_id, offset, limit)

    async def contact(self, caller: Caller, list_id: int, contact_id: int) -> ContactRecord:
        await self.own_list(caller, list_id)
        found = await self.store.get_contact(list_id, contact_id)
        if found is None:
            raise contact_not_found(contact_id)
        return found

    async def add_contact(self, caller: Caller, list_id: int, fields: Mapping[str, str | None]) -> int:
        """``fields`` as ``rules.contact_fields(doc, create=True)`` checked them; the new id."""
        await self.own_list(caller, list_id)
        created = await self.store.add_contact(list_id, fields, self.clock())
        if created is None:
            raise list_not_found(list_id)
        return created

    async def update_contact(
        self, caller: Caller, list_id: int, contact_id: int, fields: Mapping[str, str | None]
    ) -> None:
        await self.own_list(caller, list_id)
        if not await self.store.update_contact(list_id, contact_id, fields, self.clock()):
            raise contact_not_found(contact_id)

    async def delete_contact(self, caller: Caller, list_id: int, contact_id: int) -> None:
        await self.own_list(caller, list_id)
        if not await self.store.delete_contact(list_id, contact_id):
            raise contact_not_found(contact_id)


# -- CSV import --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int  # of the row's first character in the file (the header is line 1)
    field: str  # "" for the row as a whole
    message: str


@dataclass(slots=True)
class ImportReport:
    list_id: int
    rows: int  # data rows in the file (blank lines not counted)
    imported: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len({p.line for p in self.problems})


async def import_csv(store: AddressBookStore, list_id: int, text: str, now: float) -> ImportReport | None:
    """Check every row of a contacts CSV as the API checks a new contact, and add the valid
    ones in one transaction (all of them, or none when the database fails: a rerun after a
    failure never doubles a row). Invalid rows are reported, not imported. None for an unknown
    list; ``rules.CsvRefused`` for a file that cannot be read as a whole."""
    parsed = rules.read_csv(text)
    if await store.get_list(list_id) is None:
        return None
    report = ImportReport(list_id, rows=len(parsed.rows) + len(parsed.malformed), unknown_columns=list(parsed.unknown))
    report.problems.extend(RowProblem(line, "", message) for line, message in parsed.malformed)
    valid: list[dict[str, str | None]] = []
    for line, values in parsed.rows:
        fields, problems = rules.contact_problems(values, create=True)
        if problems:
            report.problems.extend(RowProblem(line, p.field, p.message) for p in problems)
        else:
            valid.append(fields)
    added = await store.import_contacts(list_id, valid, now) if valid else 0
    if added is None:
        return None
    report.problems.sort(key=lambda p: p.line)
    report.imported = added
    return report


__all__ = [
    "AddressBook",
    "ImportReport",
    "RowProblem",
    "contact_not_found",
    "import_csv",
    "list_not_found",
]
