"""The client half of the ``relaybox`` CLI: send, list, get, next, wait, ping and watch.

Exit codes: 0 success, 1 any failure (server error, no message, network, checksum, disk),
2 usage errors (click's own, plus a bad ``--to``/``--route``/link, found before any network call).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import click
import httpx
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

from relaybox.client import ApiError, ChecksumMismatch, Client, Message
from relaybox.client._core import is_message_id, is_recipient, open_temp
from relaybox.wire.files import clean_file_name
from relaybox.wire.headers import is_route
from relaybox.wire.ids import START_LINK, is_link
from relaybox.wire.timestamps import format_date

DEFAULT_URL = "http://127.0.0.1:8080"
F = TypeVar("F", bound=Callable[..., Any])

# soft_wrap: error lines stay whole for grep; markup stays off for text that came from the network.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


PROGRESS_MIN = 1024 * 1024


class TransferProgress:
    """An SDK ``progress`` callback that shows a rich bar on stderr, only for transfers over 1 MiB."""

    def __init__(self, console: Console, label: str) -> None:
        self._console, self._label = console, label
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if self._bar is None:
            if total is None or total <= PROGRESS_MIN:
                return
            self._bar = Progress(
                TextColumn(self._label),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self._console,
            )
            self._bar.start()
            self._task = self._bar.add_task(self._label, total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done, total=total)

    def __enter__(self) -> TransferProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()


def connection_options(func: F) -> F:
    """``--url``, ``--route`` and ``--secret``, each also read from its ``RELAYBOX_*`` variable."""
    func = click.option(
        "--secret", envvar="RELAYBOX_SECRET", show_envvar=True, help="The route's secret (KEY_SECRET)."
    )(func)
    func = click.option(
        "--route", envvar="RELAYBOX_ROUTE", show_envvar=True, help="Your route, local@domain (request-from)."
    )(func)
    func = click.option(
        "--url", envvar="RELAYBOX_URL", show_envvar=True, default=DEFAULT_URL, show_default=True, help="Server URL."
    )(func)
    return func


def make_client(url: str, route: str | None, secret: str | None, *, signed: bool = True) -> Client:
    """Check the connection options (usage errors, exit 2) before anything touches the network."""
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="--url")
    if signed:
        if not route:
            raise click.UsageError("--route is missing (or set RELAYBOX_ROUTE)")
        if not is_route(route):
            raise click.BadParameter(f"{route!r} is not a route (local@domain)", param_hint="--route")
        if not secret:
            raise click.UsageError("--secret is missing (or set RELAYBOX_SECRET)")
    return Client(url, route or "", secret or "")


def check_link_arg(link: str, hint: str = "LINK") -> str:
    if not is_link(link):
        raise click.BadParameter(f"{link!r} is not a message link", param_hint=hint)
    return link


def fail(text: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(text)}")
    sys.exit(1)


def describe(exc: ApiError) -> str:
    return f"{exc.code} {exc.message} (HTTP {exc.http_status}, request-id {exc.request_id or '-'})"


@contextmanager
def cli_errors(url: str) -> Iterator[None]:
    """Turn the SDK's failures into one readable line on stderr and exit code 1."""
    try:
        yield
    except ApiError as exc:
        fail(describe(exc))
    except ChecksumMismatch as exc:
        fail(exc.detail)
    except httpx.ConnectError as exc:
        fail(f"cannot connect to {url}: {exc or 'connection refused'}")
    except httpx.TimeoutException:
        fail(f"{url} did not answer in time")
    except httpx.HTTPError as exc:
        fail(f"talking to {url} failed: {type(exc).__name__}: {exc}")
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror or exc}")


def safe_local_name(file_name: str | None, link: str) -> str:
    """A name in the current directory for the sender's file name: one path component, no
    control characters, not hidden, never ``.``/``..``; the link when the sender gave none."""
    name = clean_file_name(file_name) if file_name else link
    name = name.replace("/", "_").replace("\\", "_")
    if name.startswith("."):
        name = "_" + name[1:]
    return name or "data"


def _unused(name: str) -> Path:
    # wget-style: never overwrite an existing file when the name came from the sender.
    candidate, n = Path(name), 0
    while candidate.exists():
        n += 1
        candidate = Path(f"{name}.{n}")
    return candidate


def receive(fetch: Callable[[IO[bytes] | str, TransferProgress], Message | None], output: str | None) -> Message | None:
    """Run ``fetch`` against the destination ``-o`` asks for and report what was written."""
    with TransferProgress(err_console, "receiving") as progress:
        if output == "-":
            return fetch(sys.stdout.buffer, progress)
        if output is not None:
            message = fetch(output, progress)
            if message is not None:
                err_console.print(f"saved {message.link} ({message.size} bytes) to {output}", markup=False)
            return message
        handle, tmp_name = open_temp(".")
        try:
            with handle as tmp:
                message = fetch(tmp, progress)
                tmp.flush()
                os.fsync(tmp.fileno())
            if message is None:
                return None
            final = _unused(safe_local_name(message.file_name, message.link))
            os.replace(tmp_name, final)
            err_console.print(f"saved {message.link} ({message.size} bytes) to {final}", markup=False)
            return message
        finally:
            Path(tmp_name).unlink(missing_ok=True)


def _print_link(message: Message, output: str | None) -> None:
    if output != "-":
        click.echo(message.link)


@click.command("send")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, allow_dash=True))
@click.option("--to", "to", required=True, help="Recipient route local@domain (or list:<id>).")
@click.option("--id", "message_id", help="Message id (1-128 printable ASCII; default: a random uuid).")
@click.option("--expires", type=int, help="Seconds until the message expires (server default: 1 day).")
@click.option("--pay-for-reply", is_flag=True, help="Mark the message as reply paid.")
@click.option("--name", "file_name", help="File name to announce (default: FILE's base name).")
@connection_options
def send_cmd(
    file: str,
    to: str,
    message_id: str | None,
    expires: int | None,
    pay_for_reply: bool,
    file_name: str | None,
    url: str,
    route: str | None,
    secret: str | None,
) -> None:
    """Send FILE (or - for stdin) to a route; prints the message link."""
    if not is_recipient(to):
        raise click.BadParameter(f"{to!r} is not a route (local@domain) or list:<id>", param_hint="--to")
    if message_id is not None and not is_message_id(message_id):
        raise click.BadParameter("must be 1-128 printable ASCII characters", param_hint="--id")
    client = make_client(url, route, secret)
    source: str | IO[bytes] = sys.stdin.buffer if file == "-" else file
    with client, cli_errors(url), TransferProgress(err_console, "sending") as progress:
        result = client.send(
            source,
            to,
            message_id=message_id,
            file_name=file_name,
            expires_after=expires,
            pay_for_reply=pay_for_reply,
            progress=progress,
        )
    click.echo(result)


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON as it is.")
@connection_options
def list_cmd(as_json: bool, url: str, route: str | None, secret: str | None) -> None:
    """List the messages waiting for your route, oldest first."""
    client = make_client(url, route, secret)
    with client, cli_errors(url):
        items = client.list()
    if as_json:
        click.echo(json.dumps([dict(item.raw) for item in items], indent=2, ensure_ascii=False))
        return
    if not items:
        err_console.print("no messages")
        return
    # Links are copied from here into other commands: never truncate one.
    link_column = Column("link", no_wrap=True, min_width=max(len(item.link) for item in items))
    table = Table(
        link_column,
        Column("from", min_width=5),
        Column("file", min_width=8),
        Column("size", justify="right", no_wrap=True),
        Column("received (UTC)", min_width=10),
        Column("expires (UTC)", min_width=10),
        box=box.SIMPLE_HEAD,
    )
    for item in items:
        table.add_row(
            item.link,
            item.from_route or "",
            item.file_name or "",
            "" if item.size is None else str(item.size),
            format_date(item.received_date),
            format_date(item.expiration_date),
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 1000  # piped: one line per message, nothing cut for the reader's tools
    console.print(table)


output_option = click.option(
    "-o", "--output", help="Write the payload here ('-' for stdout; default: the sender's file name in cwd)."
)


@click.command("get")
@click.argument("link")
@click.option("--index", type=click.IntRange(min=0), help="Attachment index of a multi-file message.")
@output_option
@connection_options
def get_cmd(link: str, index: int | None, output: str | None, url: str, route: str | None, secret: str | None) -> None:
    """Download the message LINK."""
    check_link_arg(link)
    client = make_client(url, route, secret)
    with client, cli_errors(url):
        message = receive(lambda dest, progress: client.get(link, index=index, dest=dest, progress=progress), output)
    assert message is not None
    _print_link(message, output)


@click.command("next")
@click.argument("link", default=START_LINK)
@output_option
@connection_options
def next_cmd(link: str, output: str | None, url: str, route: str | None, secret: str | None) -> None:
    """Download the oldest message after LINK (default 0: the first); prints its link. Exit 1 if none."""
    check_link_arg(link)
    client = make_client(url, route, secret)
    with client, cli_errors(url):
        message = receive(lambda dest, progress: client.get_next(link, dest=dest, progress=progress), output)
    if message is None:
        fail(f"no message after {link}")
        return
    _print_link(message, output)


@click.command("wait")
@click.option("--after", default=START_LINK, show_default=True, help="Cursor: wait for a message after this link.")
@click.option("--timeout", type=click.IntRange(min=1), help="Give up after N seconds (exit 1); default: wait forever.")
@output_option
@connection_options
def wait_cmd(
    after: str, timeout: int | None, output: str | None, url: str, route: str | None, secret: str | None
) -> None:
    """Wait for the next message after --after and download it; prints its link."""
    check_link_arg(after, "--after")
    client = make_client(url, route, secret)
    deadline = None if timeout is None else time.monotonic() + timeout

    def fetch(dest: IO[bytes] | str, progress: TransferProgress) -> Message | None:
        # The server ends each hold with 204 after its wait limit; loop until a message or our deadline.
        while True:
            left = None if deadline is None else max(1, round(deadline - time.monotonic()))
            message = client.wait(after, timeout=left, dest=dest, progress=progress)
            if message is not None or (deadline is not None and time.monotonic() >= deadline - 0.5):
                return message

    with client, cli_errors(url):
        message = receive(fetch, output)
    if message is None:
        fail(f"no message within {timeout} s")
        return
    _print_link(message, output)


@click.command("ping")
@connection_options
def ping_cmd(url: str, route: str | None, secret: str | None) -> None:
    """Check that the server and its store answer (unsigned)."""
    client = make_client(url, route, secret, signed=False)
    with client, cli_errors(url):
        click.echo(client.ping())


@click.command("watch")
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, writable=True), help="Directory to write into."
)
@click.option("--after", help="Start after this link instead of the cursor saved in --out.")
@click.option("--timeout", "poll", type=click.IntRange(1, 300), default=60, show_default=True, help="Seconds per poll.")
@connection_options
def watch_cmd(out: str, after: str | None, poll: int, url: str, route: str | None, secret: str | None) -> None:
    """Receive messages into DIR forever, resuming where the last run stopped (Ctrl-C to stop)."""
    from relaybox.cli.watch import run_watch

    if after is not None:
        check_link_arg(after, "--after")
    client = make_client(url, route, secret)
    with client:
        code = run_watch(client, Path(out), after=after, poll=poll, out=click.echo, err=err_console)
    sys.exit(code)


def register(group: click.Group) -> None:
    """Add the client commands to the top-level ``relaybox`` group."""
    for command in (send_cmd, list_cmd, get_cmd, next_cmd, wait_cmd, ping_cmd, watch_cmd):
        group.add_command(command)
