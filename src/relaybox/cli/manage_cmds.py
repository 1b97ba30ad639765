"""The management-API half of the client CLI: ``inbox``, ``outbox``, ``download`` and ``login``.

They act for an account (``--user``/``--password``, or a ``--token`` from ``relaybox login``)
through ``/v1``, with the SDK's :class:`relaybox.client.ManagementClient`. Exit codes: 0 success,
1 a refusal or failure (one line on stderr, with the request-id), 2 usage errors.

Example::

    export RELAYBOX_USER=me@example.com RELAYBOX_PASSWORD=...
    relaybox inbox --unread
    relaybox download sMCRyW4S1C0DTQ9cIwPr1w --all --mark-read
    export RELAYBOX_TOKEN=$(relaybox login)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from rich import box
from rich.console import Console
from rich.table import Column, Table

from relaybox.cli.client_cmds import DEFAULT_URL, cli_errors, err_console, fail, safe_local_name
from relaybox.client import As2Message, Download, ManagementClient, ManagementError, Page
from relaybox.client._core import open_temp
from relaybox.client._management_core import DownloadDest, PartnerType
from relaybox.wire.ids import is_link

F = TypeVar("F", bound=Callable[..., Any])
#: What the server uses when --page-length is not given (to number the rows shown).
SERVER_PAGE_LENGTH = 10


def account_options(func: F) -> F:
    """``--url``, ``--user``, ``--password`` and ``--token``, each also read from its ``RELAYBOX_*`` variable."""
    func = click.option(
        "--token",
        envvar="RELAYBOX_TOKEN",
        show_envvar=True,
        help="A token from `relaybox login` (instead of --user/--password).",
    )(func)
    func = click.option(
        "--password",
        envvar="RELAYBOX_PASSWORD",
        show_envvar=True,
        help="The account's password (prompted for when --user is given without it).",
    )(func)
    func = click.option("--user", envvar="RELAYBOX_USER", show_envvar=True, help="The account's email.")(func)
    func = click.option(
        "--url", envvar="RELAYBOX_URL", show_envvar=True, default=DEFAULT_URL, show_default=True, help="Server URL."
    )(func)
    return func


def make_manager(url: str, user: str | None, password: str | None, token: str | None) -> ManagementClient:
    """Check the account options (usage errors, exit 2), prompting for a missing password."""
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="--url")
    if token:
        # With credentials too, the client can renew the token once it expires.
        if user and password:
            return ManagementClient(url, token=token, username=user, password=password)
        return ManagementClient(url, token=token)
    if not user:
        raise click.UsageError("give --user (or RELAYBOX_USER), or --token (or RELAYBOX_TOKEN)")
    if not password:
        password = click.prompt(f"Password for {user}", hide_input=True, err=True)
    return ManagementClient(url, username=user, password=password)


def describe(exc: ManagementError) -> str:
    """One line: the HTTP status, the server's message, the request-id (and Retry-After)."""
    wait = f", retry after {exc.retry_after} s" if exc.retry_after is not None else ""
    return f"HTTP {exc.status}: {exc.message} (request-id {exc.request_id or '-'}{wait})"


@contextmanager
def manage_errors(url: str) -> Iterator[None]:
    """Server refusals and network or disk failures: one line on stderr, exit 1."""
    with cli_errors(url):
        try:
            yield
        except ManagementError as exc:
            fail(describe(exc))


def _time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _attachments(message: As2Message) -> str:
    return ", ".join(a.name for a in message.attachments)


def print_page(
    page: Page, columns: list[tuple[str, Callable[[As2Message], str]]], page_number: int, page_length: int | None
) -> None:
    """A rich table of a page, then ``N of M messages`` on stderr. Piped, nothing is cut."""
    if not page.records:
        err_console.print(f"no messages (page {page_number}, {page.total_records} in all)", markup=False)
        return
    width = max(len(m.as2_message_id) for m in page.records)
    # Ids are copied from here into `relaybox download`: never truncate or wrap one.
    table = Table(Column("id", no_wrap=True, min_width=width), box=box.SIMPLE_HEAD)
    for title, _ in columns:
        table.add_column(title, justify="right" if title == "size" else "left", no_wrap=title in ("size", "time (UTC)"))
    for message in page.records:
        table.add_row(message.as2_message_id, *(value(message) for _, value in columns))
    console = Console(highlight=False, markup=False)
    if not console.is_terminal:
        console.width = 1000
    console.print(table)
    first = (page_number - 1) * (page_length or SERVER_PAGE_LENGTH) + 1
    err_console.print(
        f"messages {first}-{first + len(page.records) - 1} of {page.total_records} (page {page_number})", markup=False
    )


def _emit_json(page: Page) -> None:
    click.echo(json.dumps(dict(page.raw), indent=2, ensure_ascii=False))


page_options = [
    click.option("--page", type=click.IntRange(min=1), default=1, show_default=True, help="Page number (1 = first)."),
    click.option(
        "--page-length", type=click.IntRange(1, 100), default=None, help="Messages per page, 1-100 [server default 10]."
    ),
    click.option("--station", help="Only this station of yours."),
    click.option("--partner", help="Only messages with this partner route."),
    click.option("--subject", help="Only subjects containing this text."),
    click.option(
        "--type",
        "partner_type",
        type=click.Choice(["production", "test"], case_sensitive=False),
        default=None,
        help="Partner type of the messages [server default production].",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the server's JSON page as it is."),
]


def with_page_options(func: F) -> F:
    for option in reversed(page_options):
        func = option(func)
    return func


def _offset(page: int) -> int:
    return page - 1


def _partner_type(value: str | None) -> PartnerType | None:
    return cast("PartnerType", value.lower()) if value else None


@click.command("inbox")
@click.option("--unread", is_flag=True, help="Only messages you have not marked read.")
@with_page_options
@account_options
def inbox_cmd(
    unread: bool,
    page: int,
    page_length: int | None,
    station: str | None,
    partner: str | None,
    subject: str | None,
    partner_type: str | None,
    as_json: bool,
    url: str,
    user: str | None,
    password: str | None,
    token: str | None,
) -> None:
    """List the messages your stations received (management API), newest first."""
    manager = make_manager(url, user, password, token)
    with manager, manage_errors(url):
        result = manager.received(
            page_offset=_offset(page),
            page_length=page_length,
            station=station,
            partner=partner,
            subject=subject,
            partner_type=_partner_type(partner_type),
            unread_only=True if unread else None,
        )
    if as_json:
        _emit_json(result)
        return
    columns: list[tuple[str, Callable[[As2Message], str]]] = [
        ("from", lambda m: m.sender_id or ""),
        ("to", lambda m: m.receiver_id or ""),
        ("subject", lambda m: m.subject or ""),
        ("attachments", _attachments),
        ("size", lambda m: str(m.size)),
        ("time (UTC)", lambda m: _time(m.persisted_timestamp)),
        ("read", lambda m: "yes" if m.read else "no"),
    ]
    print_page(result, columns, page, page_length)


@click.command("outbox")
@click.option("--queued", is_flag=True, help="Undelivered messages (queued and stopped) instead of sent ones.")
@click.option("--failed", is_flag=True, help="Failed delivery attempts instead of sent messages.")
@click.option("--query", help="With --queued: a route on either side, an exact id, or subject text.")
@with_page_options
@account_options
def outbox_cmd(
    queued: bool,
    failed: bool,
    query: str | None,
    page: int,
    page_length: int | None,
    station: str | None,
    partner: str | None,
    subject: str | None,
    partner_type: str | None,
    as_json: bool,
    url: str,
    user: str | None,
    password: str | None,
    token: str | None,
) -> None:
    """List the messages your stations sent (default), or the --queued or --failed ones."""
    if queued and failed:
        raise click.UsageError("--queued and --failed exclude each other")
    if queued and (station or partner or subject):
        raise click.UsageError("--station, --partner and --subject do not apply to --queued: use --query")
    if query is not None and not queued:
        raise click.UsageError("--query applies to --queued only")
    kind = "queued" if queued else "failed" if failed else "sent"
    manager = make_manager(url, user, password, token)
    ptype = _partner_type(partner_type)
    with manager, manage_errors(url):
        if kind == "queued":
            result = manager.queued(page_offset=_offset(page), page_length=page_length, partner_type=ptype, query=query)
        else:
            lister = manager.failed if kind == "failed" else manager.sent
            result = lister(
                page_offset=_offset(page),
                page_length=page_length,
                station=station,
                partner=partner,
                subject=subject,
                partner_type=ptype,
            )
    if as_json:
        _emit_json(result)
        return
    columns: list[tuple[str, Callable[[As2Message], str]]] = [
        ("from", lambda m: m.sender_id or ""),
        ("to", lambda m: m.receiver_id or ""),
        ("subject", lambda m: m.subject or ""),
        ("attachments", _attachments),
        ("size", lambda m: str(m.size)),
        ("time (UTC)", lambda m: _time(m.persisted_timestamp)),
        ("state", lambda m: m.state or m.delivery_status or ""),
        ("mdn", lambda m: m.mdn_status or ""),
    ]
    print_page(result, columns, page, page_length)


def _unused(directory: Path, name: str) -> Path:
    # wget-style: never overwrite an existing file when the name came from the server.
    candidate, n = directory / name, 0
    while candidate.exists():
        n += 1
        candidate = directory / f"{name}.{n}"
    return candidate


def save_download(fetch: Callable[[DownloadDest], Download], output: str | None, fallback: str) -> Path | None:
    """Run ``fetch`` into the destination ``-o`` asks for: ``-`` (stdout), a file, or a directory
    (default: the current one) where the server's file name is used. Returns the path written."""
    if output == "-":
        fetch(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return None
    if output is not None and not Path(output).is_dir():
        result = fetch(output)
        return result.path
    directory = Path(output or ".")
    handle, tmp_name = open_temp(directory)
    try:
        with handle as tmp:
            result = fetch(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        final = _unused(directory, safe_local_name(result.file_name, fallback))
        os.replace(tmp_name, final)
        return final
    finally:
        Path(tmp_name).unlink(missing_ok=True)


@click.command("download")
@click.argument("message_id", metavar="ID")
@click.option("--index", type=click.IntRange(min=0), default=None, help="Attachment index (0-based) [default 0].")
@click.option("--all", "all_files", is_flag=True, help="All attachments as one zip (<ID>.zip).")
@click.option("--sent", is_flag=True, help="A message you sent, rather than one you received.")
@click.option("--mark-read", is_flag=True, help="Mark the received message read.")
@click.option(
    "-o",
    "--output",
    help="A file, a directory, or '-' for stdout [default: the server's file name in the current directory].",
)
@account_options
def download_cmd(
    message_id: str,
    index: int | None,
    all_files: bool,
    sent: bool,
    mark_read: bool,
    output: str | None,
    url: str,
    user: str | None,
    password: str | None,
    token: str | None,
) -> None:
    """Download an attachment of message ID (or --all of them, zipped); prints the path written."""
    if not is_link(message_id):
        raise click.BadParameter(f"{message_id!r} is not a message id", param_hint="ID")
    if all_files and index is not None:
        raise click.UsageError("--index and --all exclude each other")
    if sent and mark_read:
        raise click.UsageError("--mark-read applies to received messages only")
    view: Any = "sent" if sent else "received"
    which: Any = "all" if all_files else (index or 0)
    fallback = f"{message_id}.zip" if all_files else message_id
    manager = make_manager(url, user, password, token)
    with manager, manage_errors(url):
        path = save_download(
            lambda dest: manager.download_attachment(view, message_id, which, dest, mark_as_read=mark_read),
            output,
            fallback,
        )
    if path is not None:
        what = "attachments" if all_files else f"attachment {which}"
        err_console.print(f"saved {what} of {message_id} to {path}", markup=False)
        click.echo(str(path))


@click.command("login")
@click.option("--json", "as_json", is_flag=True, help='Print {"token": ..., "expiry": MS} instead.')
@account_options
def login_cmd(as_json: bool, url: str, user: str | None, password: str | None, token: str | None) -> None:
    """Get a management-API token (24 h) for --user; prints it (use it as RELAYBOX_TOKEN)."""
    if not user:
        raise click.UsageError("login needs --user (or RELAYBOX_USER)")
    manager = make_manager(url, user, password, None)
    with manager, manage_errors(url):
        issued = manager.authorize()
    if as_json:
        click.echo(json.dumps({"token": issued.token, "expiry": issued.expiry_ms}))
    else:
        click.echo(issued.token)
        err_console.print(f"valid until {issued.expires_at:%Y-%m-%d %H:%M:%S} UTC", markup=False)


def register(group: click.Group) -> None:
    """Add the management commands to the top-level ``relaybox`` group."""
    for command in (inbox_cmd, outbox_cmd, download_cmd, login_cmd):
        group.add_command(command)
