"""``relaybox webhook``: the webhook endpoints of this server's stations, straight on the store
with the operator's rights (the use cases of ``/v1/webhooks``), and ``listen``, a local receiver.

Exit 0 = done, 1 = refused (one line on stderr), 2 = usage. ``--json`` prints one document. A
secret is shown once, in the answer of ``add`` or ``rotate``; ``list`` never shows it.
Server modules are imported only when a command runs, so ``relaybox --help`` stays light.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from relaybox.cli._listen import listen
from relaybox.cli._store import data_dir_option, db_option, run_with_store, settings_from
from relaybox.wire.events import EVENT_TYPES
from relaybox.wire.headers import is_route

_data_dir = data_dir_option
_db = db_option
_json = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
_SHOWN_ONCE = "(the secret is shown once: store it now; `relaybox webhook rotate` makes a new one)"


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {' '.join(message.split())}", err=True)  # always one line
    sys.exit(1)


def _check_route(name: str) -> None:
    if not is_route(name):
        raise click.BadParameter(f"{name!r} is not a route: local@domain, each part 1-64 of A-Z a-z 0-9 . _ -")


def _run(data_dir: Path | None, database_url: str | None, work: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``work(webhooks)`` (a ``Webhooks`` on the store); its refusals exit 1 with their message."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)

    async def guarded(store: Any) -> None:
        from relaybox.errors import V1Error
        from relaybox.webhooks.delivery import Outbox
        from relaybox.webhooks.manage import Webhooks

        outbox = Outbox(store, settings)  # only `test` uses it (its HTTP client is made on demand)
        try:
            await work(Webhooks(store, settings, outbox))
        except V1Error as exc:
            _fail(exc.message)
        finally:
            await outbox.close()

    run_with_store(settings, guarded)


def _document(hook: Any, secret: str | None = None) -> dict[str, Any]:
    from relaybox.webhooks.manage import render_endpoint

    return render_endpoint(hook, secret)


def _state(hook: Any) -> str:
    return "enabled" if hook.enabled else f"disabled: {hook.disabled_reason or 'user'}"


@click.group()
def webhook() -> None:
    """Webhook endpoints of the stations (as /v1/webhooks), and a local test receiver."""


@webhook.command("add")
@click.argument("station")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="Event type to send (repeatable) [default: all].",
)
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@click.option("--standard-webhooks", is_flag=True, help="Also send the Standard Webhooks headers.")
@click.option("--timeout", type=click.IntRange(1, 60), default=None, help="Seconds per attempt [default 15].")
@click.option("--secret", default=None, help="Use this secret (whsec_ + base64 of 24..64 bytes), not a generated one.")
@click.option("--description", default=None, help="Free text, at most 256 characters.")
@_json
@_data_dir
@_db
def webhook_add(
    station: str,
    url: str,
    events: tuple[str, ...],
    disabled: bool,
    standard_webhooks: bool,
    timeout: int | None,
    secret: str | None,
    description: str | None,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Add an endpoint: URL gets the events of STATION.

    Prints its id and its secret; the secret is shown only this once.
    """
    _check_route(station)
    doc: dict[str, Any] = {
        "stationAS2Id": station,
        "url": url,
        "eventTypes": list(events or EVENT_TYPES),
        "enabled": not disabled,
        "standardWebhooks": standard_webhooks,
    }
    if timeout is not None:
        doc["timeout"] = timeout
    if secret is not None:
        doc["secret"] = secret
    if description is not None:
        doc["description"] = description

    async def work(hooks: Any) -> None:
        hook, value = await hooks.create(None, doc)
        if as_json:
            click.echo(json.dumps(_document(hook, value)))
            return
        click.echo(f"webhook {hook.id} created: {hook.station} -> {hook.url} ({', '.join(hook.event_types)})")
        if secret is None:  # a secret given on the command line is not echoed back
            click.echo(f"secret: {value}")
            click.echo(_SHOWN_ONCE, err=True)

    _run(data_dir, database_url, work)


@webhook.command("list")
@click.argument("station", required=False)
@_json
@_data_dir
@_db
def webhook_list(station: str | None, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List the endpoints (of one STATION), never their secrets."""
    if station is not None:
        _check_route(station)

    async def work(hooks: Any) -> None:
        found = await hooks.list_all(station)
        if as_json:
            click.echo(json.dumps([_document(h) for h in found]))
            return
        from rich.console import Console
        from rich.table import Column, Table

        # The id is what the other commands take: never cut it.
        table = Table(
            Column("id", no_wrap=True, min_width=29), "station", Column("url", overflow="fold"), "events", "state"
        )
        for h in found:
            events = ", ".join(t.removeprefix("message.") for t in h.event_types)
            table.add_row(h.id, h.station, h.url, events, _state(h))
        Console().print(table)

    _run(data_dir, database_url, work)


@webhook.command("remove")
@click.argument("webhook_id")
@_data_dir
@_db
def webhook_remove(webhook_id: str, data_dir: Path | None, database_url: str | None) -> None:
    """Remove an endpoint and its deliveries."""

    async def work(hooks: Any) -> None:
        await hooks.remove(None, webhook_id)
        click.echo(f"webhook {webhook_id} removed")

    _run(data_dir, database_url, work)


@webhook.command("test")
@click.argument("webhook_id")
@_json
@_data_dir
@_db
def webhook_test(webhook_id: str, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Send a signed ping to an endpoint now.

    Also to a disabled endpoint; never retried. Exit 0 on a 2xx answer, else 1.
    """

    async def work(hooks: Any) -> None:
        from relaybox.webhooks.manage import render_ping

        result = await hooks.test(None, webhook_id)
        if as_json:
            click.echo(json.dumps(render_ping(result)))
            if not result.ok:
                sys.exit(1)
            return
        took = f"in {result.duration_ms} ms"
        if result.ok:
            click.echo(f"ping {result.event_id}: HTTP {result.status} {took}")
        elif result.status is None:
            _fail(f"ping {result.event_id} failed {took}: {result.error}")
        else:
            detail = "" if result.error in (None, f"HTTP {result.status}") else f": {result.error}"
            _fail(f"ping {result.event_id} answered HTTP {result.status} {took}{detail}")

    _run(data_dir, database_url, work)


@webhook.command("rotate")
@click.argument("webhook_id")
@_json
@_data_dir
@_db
def webhook_rotate(webhook_id: str, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Give an endpoint a new secret (printed once).

    The old secret stops working at once.
    """

    async def work(hooks: Any) -> None:
        hook, value = await hooks.rotate(None, webhook_id)
        if as_json:
            click.echo(json.dumps(_document(hook, value)))
            return
        click.echo(f"secret: {value}")
        click.echo(_SHOWN_ONCE, err=True)

    _run(data_dir, database_url, work)


def _set_enabled(
    webhook_id: str, enabled: bool, as_json: bool, data_dir: Path | None, database_url: str | None
) -> None:
    async def work(hooks: Any) -> None:
        hook = await hooks.update(None, webhook_id, {"enabled": enabled})
        if as_json:
            click.echo(json.dumps(_document(hook)))
        else:
            click.echo(f"webhook {hook.id} {_state(hook)}")

    _run(data_dir, database_url, work)


@webhook.command("enable")
@click.argument("webhook_id")
@_json
@_data_dir
@_db
def webhook_enable(webhook_id: str, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Enable an endpoint again.

    Deliveries stopped while it was disabled stay stopped.
    """
    _set_enabled(webhook_id, True, as_json, data_dir, database_url)


@webhook.command("disable")
@click.argument("webhook_id")
@_json
@_data_dir
@_db
def webhook_disable(webhook_id: str, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Disable an endpoint: no new deliveries.

    Its queued deliveries stop.
    """
    _set_enabled(webhook_id, False, as_json, data_dir, database_url)


webhook.add_command(listen)


def register(cli: click.Group) -> None:
    cli.add_command(webhook)
