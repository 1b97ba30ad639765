"""Input rules of the address book: list names, contact fields and the contacts CSV layout.

Pure and shared: the management API (``/v1/lists.json``, ``/v1/contacts.json``) and
``relaybox contacts import`` check a contact with the same function, so a row the CSV import
accepts is a body the API accepts and the other way round.

Contact rules (decisions):

- Fields are the seed's twelve (``name`` .. ``zip_code``) plus ``route``, the relaybox route the
  contact reaches (``list:<id>`` fan-out). Other keys of a JSON body (``id``, ``posted_data``, ...)
  are ignored, so the seed's clients work unchanged; unknown CSV columns are reported.
- Every value is a JSON string; anything else is a 400 naming the field (the seed's clients send
  strings, also for ``zip_code``). ``route`` may also be ``null``: no route.
- Values are trimmed of surrounding whitespace, may hold no control characters (they end up in
  CSV files and terminals) and are at most as long as their column (``FIELD_LENGTHS``, the
  lengths of ``store/schema.py``; a test keeps the two equal).
- ``email_address`` is required when a contact is added and can be changed, never cleared: the
  seed lists contacts as ``{id: email}``. A simple, robust check (not full RFC 5321): one ``@``,
  a dot-atom local part of at most 64 characters, a domain of DNS labels with at least one dot,
  at most 254 characters in all, ASCII only. Case is kept.
- ``route``: empty or ``null`` means none; otherwise ``local@domain`` as everywhere in relaybox.
  Whether the route exists is decided when a message is sent to the list, not here.
- Every other field is free text (``dob`` too: the seed shows no format).
- Nothing is unique within a list: the same e-mail or route may appear in several contacts (a
  fan-out sends one copy per distinct route; the seed's ``{id: email}`` map has room for both).

List names: 1-128 characters without control characters, kept as given (not trimmed).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from relaybox.errors import bad_request
from relaybox.wire.headers import has_control_chars, is_route

# Column lengths of ``contacts`` in store/schema.py (wire may not import the store).
FIELD_LENGTHS: dict[str, int] = {
    "name": 128,
    "first_name": 128,
    "last_name": 128,
    "email_address": 254,
    "company": 128,
    "phone": 64,
    "address": 256,
    "city": 128,
    "state": 128,
    "zip_code": 32,
    "country": 128,
    "dob": 32,
    "route": 129,
}
FIELDS: tuple[str, ...] = tuple(FIELD_LENGTHS)
MAX_LIST_NAME = 128
# Written by ``relaybox contacts export`` and skipped (not reported) by the import, so that an
# exported file imports again as it is; the import gives new ids.
EXPORT_COLUMNS: tuple[str, ...] = ("id", *FIELDS)
_SKIPPED_COLUMNS = frozenset({"id"})

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@{_LABEL}(?:\.{_LABEL})+")


def is_email(value: str) -> bool:
    match = _EMAIL.fullmatch(value)
    return match is not None and len(value) <= FIELD_LENGTHS["email_address"] and len(match["local"]) <= 64


def list_name(value: str | None) -> str:
    """A list name from a path or query value (already decoded); 400 when it breaks the rule."""
    if value is None or not 1 <= len(value) <= MAX_LIST_NAME or has_control_chars(value):
        raise bad_request(f"List name must be 1-{MAX_LIST_NAME} characters without control characters")
    return value


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault of a contact: the field it concerns ("" for the row as a whole) and why."""

    field: str
    message: str


def contact_problems(doc: Mapping[str, Any], *, create: bool) -> tuple[dict[str, str | None], list[Problem]]:
    """The contact fields in ``doc``, checked: (fields to store, problems). On create every
    field is present in the result (absent ones ""); otherwise only those in ``doc``."""
    out: dict[str, str | None] = {}
    problems: list[Problem] = []
    for name, most in FIELD_LENGTHS.items():
        if name not in doc:
            if create:
                out[name] = None if name == "route" else ""
            continue
        raw = doc[name]
        if raw is None and name == "route":
            out[name] = None
            continue
        if isinstance(raw, int | float) and not isinstance(raw, bool) and name != "route":
            raw = str(raw)  # the seed's clients send numbers (zip_code 4008): kept as their text
        if not isinstance(raw, str):
            problems.append(Problem(name, "must be a string" + (" or null" if name == "route" else "")))
            continue
        value = raw.strip()
        if len(value) > most:
            problems.append(Problem(name, f"at most {most} characters"))
        elif has_control_chars(value):
            problems.append(Problem(name, "must not contain control characters"))
        elif name == "route":
            if value and not is_route(value):
                problems.append(Problem(name, f"{value!r} is not a route (local@domain)"))
            out[name] = value or None
        elif name == "email_address" and value and not is_email(value):
            problems.append(Problem(name, f"{value!r} is not an e-mail address"))
        else:
            out[name] = value
    if out.get("email_address", "x") == "" and not any(p.field == "email_address" for p in problems):
        problems.append(Problem("email_address", "is required"))
    return out, problems


def contact_fields(doc: Any, *, create: bool) -> dict[str, str | None]:
    """A contact body (add: ``create``; edit: the fields present) as store fields; a 400 that
    names every faulty field otherwise."""
    if not isinstance(doc, dict):
        raise bad_request("Body must be a JSON object (a contact)")
    fields, problems = contact_problems(doc, create=create)
    if problems:
        raise bad_request("Invalid contact: " + "; ".join(f"{p.field} {p.message}" for p in problems))
    return fields


# -- CSV ---------------------------------------------------------------------------------------
class CsvRefused(ValueError):
    """The file as a whole cannot be imported (no header, a duplicate column, bad CSV ...)."""


@dataclass(slots=True)
class CsvFile:
    """A contacts CSV read and split: the known columns, the unknown ones (reported, ignored)
    and the rows as (line of the row's first character, values of the known columns)."""

    columns: list[str]
    unknown: list[str]
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    # Rows with more cells than the header: (line, message); they are not in ``rows``.
    malformed: list[tuple[int, str]] = field(default_factory=list)


def read_csv(text: str) -> CsvFile:
    """Split a contacts CSV (RFC 4180 as Python's ``csv`` reads it; a UTF-8 BOM is dropped).

    The first row names the columns (case-insensitive, trimmed); ``email_address`` must be one.
    Blank lines are skipped; a row with fewer cells than the header has the rest empty, one
    with more is malformed (reported, not imported). ``CsvRefused`` for faults of the file."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise CsvRefused("the file is empty: the first row must name the columns")
        names = [h.strip().lower() for h in header]
        seen: set[str] = set()
        for name in filter(None, names):  # unnamed columns (trailing commas) are ignored
            if name in seen:
                raise CsvRefused(f"column {name!r} appears twice in the header")
            seen.add(name)
        if "email_address" not in seen:
            raise CsvRefused("the header has no email_address column")
        result = CsvFile(
            columns=[n for n in names if n in FIELD_LENGTHS],
            unknown=[n for n in names if n and n not in FIELD_LENGTHS and n not in _SKIPPED_COLUMNS],
        )
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not cells or cells == [""]:
                continue
            if len(cells) > len(names):
                result.malformed.append((start, f"the row has {len(cells)} cells, the header {len(names)}"))
                continue
            values = {n: v for n, v in zip(names, cells, strict=False) if n in FIELD_LENGTHS}
            result.rows.append((start, values))
    except csv.Error as exc:
        raise CsvRefused(f"line {reader.line_num}: {exc}") from None
    return result


def write_csv(out: IO[str], rows: Iterable[Mapping[str, Any]], *, header: bool = True) -> int:
    """Write the ``EXPORT_COLUMNS`` header (unless ``header`` is false: a later batch) and one
    line per contact (a mapping of those names); the number of contacts. ``None`` (no route)
    is written as an empty cell."""
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row[c] for c in EXPORT_COLUMNS])
        count += 1
    return count


__all__ = [
    "EXPORT_COLUMNS",
    "FIELDS",
    "FIELD_LENGTHS",
    "MAX_LIST_NAME",
    "CsvFile",
    "CsvRefused",
    "Problem",
    "contact_fields",
    "contact_problems",
    "is_email",
    "list_name",
    "read_csv",
    "write_csv",
]
