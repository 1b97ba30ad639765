"""``relaybox contacts``: the address book on the server's store (import, export, lists).

- ``import LIST_ID FILE.csv`` (``-`` reads stdin): UTF-8, the first row names the columns (the
  contact fields, any case; ``id`` is skipped so an export imports again; other columns are
  reported and ignored). Every row is checked as ``POST /v1/contacts.json/{list}/contacts/``
  checks a contact; the valid rows are added in one transaction, the others reported by line
  (of the row's first character; the header is line 1), field and message. Exit 0 when every
  row was imported, 1 when a row failed or nothing could be imported (unknown list, a file
  that is not UTF-8 CSV with an ``email_address`` column: one line on stderr), 2 usage.
- ``export LIST_ID [-o FILE]``: CSV (RFC 4180, UTF-8, CRLF) with the columns ``id``, the seed's
  fields and ``route``; values as stored (no spreadsheet-formula escaping: the file must
  round-trip).
- ``lists EMAIL``: the account's lists with their number of contacts.

``--json`` prints one document (camelCase, as the other commands).
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import IO, Any, NoReturn

import click

from relaybox.cli._store import data_dir_option, db_option, run_with_store, settings_from

_json = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _run(data_dir: Path | None, database_url: str | None, work: Any) -> None:
    run_with_store(settings_from(data_dir=data_dir, database_url=database_url), work)


@click.group()
def contacts() -> None:
    """Address book: contact lists of accounts (as /v1/lists.json and /v1/contacts.json)."""


@contacts.command("import")
@click.argument("list_id", type=click.IntRange(min=1))
@click.argument("file", type=click.File("rb"))
@_json
@data_dir_option
@db_option
def import_cmd(list_id: int, file: IO[bytes], as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Add the contacts of a CSV file to list LIST_ID; prints a per-row error report."""
    raw, label = file.read(), str(getattr(file, "name", "<stdin>"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        _fail(f"{label} is not UTF-8 text (line {line}, byte {exc.start})")

    async def work(store: Any) -> None:
        from relaybox.exchange.addressbook import import_csv
        from relaybox.wire.contacts import CsvRefused

        try:
            report = await import_csv(store.addressbook, list_id, text, time.time())
        except CsvRefused as exc:
            _fail(f"{label}: {exc}")
        if report is None:
            _fail(f"no list {list_id}")
        _show_report(report, as_json)
        if report.problems:
            sys.exit(1)

    _run(data_dir, database_url, work)


def _show_report(report: Any, as_json: bool) -> None:
    if as_json:
        doc = {
            "list": report.list_id,
            "rows": report.rows,
            "imported": report.imported,
            "failed": report.failed,
            "unknownColumns": report.unknown_columns,
            "errors": [{"line": p.line, "field": p.field, "message": p.message} for p in report.problems],
        }
        click.echo(json.dumps(doc))
        return
    click.echo(f"imported {report.imported} of {report.rows} rows into list {report.list_id}; {report.failed} failed")
    if report.unknown_columns:
        click.echo(f"unknown columns (ignored): {', '.join(report.unknown_columns)}")
    if report.problems:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table("line", "field", "message")
        for p in report.problems:  # Text: a value quoted in a message is never rich markup
            table.add_row(str(p.line), p.field or "-", Text(p.message))
        Console(soft_wrap=True).print(table)


@contacts.command("export")
@click.argument("list_id", type=click.IntRange(min=1))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default stdout).")
@data_dir_option
@db_option
def export_cmd(list_id: int, output: Path | None, data_dir: Path | None, database_url: str | None) -> None:
    """Write the contacts of list LIST_ID as CSV (every field, with id and route)."""

    async def work(store: Any) -> None:
        from relaybox.wire.contacts import EXPORT_COLUMNS, write_csv

        book = store.addressbook
        if await book.get_list(list_id) is None:
            _fail(f"no list {list_id}")
        sink: IO[str] = io.StringIO() if output is None else output.open("w", encoding="utf-8", newline="")
        try:
            after, header = 0, True
            while batch := await book.contacts_after(list_id, after):
                write_csv(sink, ({c: getattr(r, c) for c in EXPORT_COLUMNS} for r in batch), header=header)
                after, header = batch[-1].id, False
            if header:
                write_csv(sink, [])
            if isinstance(sink, io.StringIO):  # bytes: no newline translation of the CRLFs
                click.echo(sink.getvalue().encode("utf-8"), nl=False)
        finally:
            sink.close()

    _run(data_dir, database_url, work)


@contacts.command("lists")
@click.argument("email")
@_json
@data_dir_option
@db_option
def lists_cmd(email: str, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List the contact lists of the account EMAIL."""

    async def work(store: Any) -> None:
        from datetime import UTC, datetime

        from relaybox.exchange.identity import Refused, checked_email

        try:
            address = checked_email(email)
        except Refused as exc:
            _fail(str(exc))
        account = await store.accounts.get(address)
        if account is None:
            _fail(f"no account {address}")
        rows = await store.addressbook.list_counts(account.id)
        if as_json:
            doc = [
                {
                    "id": r.id,
                    "name": r.name,
                    "contacts": n,
                    "created": datetime.fromtimestamp(r.created_at, UTC).isoformat(),
                }
                for r, n in rows
            ]
            click.echo(json.dumps(doc))
            return
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table("id", "name", "contacts", "created (UTC)")
        for r, n in rows:
            created = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(str(r.id), Text(r.name), str(n), created)
        Console().print(table)

    _run(data_dir, database_url, work)


__all__ = ["contacts"]
