"""Provisioning of the management API (/v1): ``account``, ``station``, ``partner`` and
``receipt-key`` commands, straight on the store like ``route``.

Exit 0 = done, 1 = refused (one line on stderr), 2 = usage. ``--json`` prints one document.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import click

from relaybox.cli._store import data_dir_option, db_option, run_with_store, settings_from
from relaybox.wire.v1 import TRANSPORTS

_data_dir = data_dir_option
_db = db_option
_json = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def _password_options(f: Any) -> Any:
    f = click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")(f)
    return click.option("--password", default=None, help="The password (else prompted on a TTY, or generated).")(f)


def _read_password(password: str | None, password_stdin: bool) -> str | None:
    """None means: generate one. On a TTY without options, prompt twice."""
    if password is not None and password_stdin:
        raise click.UsageError("use either --password or --password-stdin")
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if password is None and sys.stdin.isatty():
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    return password


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _emit(as_json: bool, doc: Any, text: str) -> None:
    click.echo(json.dumps(doc) if as_json else text)


def _run(data_dir: Path | None, database_url: str | None, work: Any) -> None:
    from relaybox.exchange.identity import Refused

    async def guarded(store: Any) -> None:
        try:
            await work(store)
        except Refused as exc:
            _fail(str(exc))

    run_with_store(settings_from(data_dir=data_dir, database_url=database_url), guarded)


# -- account ----------------------------------------------------------------------------------
@click.group()
def account() -> None:
    """Accounts that log in to the management API (/v1)."""


@account.command("add")
@click.argument("email")
@_password_options
@_json
@_data_dir
@_db
def account_add(
    email: str,
    password: str | None,
    password_stdin: bool,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Create an account; without a password option, prompt (TTY) or generate one (printed once)."""
    chosen = _read_password(password, password_stdin)

    async def work(store: Any) -> None:
        from relaybox.exchange.identity import add_account

        created, generated = await add_account(store, email, chosen, time.time())
        text = f"account {created.email} created" + (f"\npassword: {generated}" if generated else "")
        _emit(as_json, {"email": created.email, "password": generated}, text)

    _run(data_dir, database_url, work)


@account.command("passwd")
@click.argument("email")
@_password_options
@_json
@_data_dir
@_db
def account_passwd(
    email: str,
    password: str | None,
    password_stdin: bool,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Change an account's password; every token issued before stops working."""
    chosen = _read_password(password, password_stdin)

    async def work(store: Any) -> None:
        from relaybox.exchange.identity import checked_email, set_password

        generated = await set_password(store, email, chosen)
        address = checked_email(email)
        text = f"password of {address} changed" + (f"\npassword: {generated}" if generated else "")
        _emit(as_json, {"email": address, "password": generated}, text)

    _run(data_dir, database_url, work)


@account.command("list")
@_json
@_data_dir
@_db
def account_list(as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List accounts and their stations."""

    async def work(store: Any) -> None:
        from datetime import UTC, datetime

        rows = await store.accounts.list_all()
        if as_json:
            doc = [
                {"email": a.email, "created": datetime.fromtimestamp(a.created_at, UTC).isoformat(), "stations": s}
                for a, s in rows
            ]
            click.echo(json.dumps(doc))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("email", "stations", "created (UTC)")
        for a, s in rows:
            created = datetime.fromtimestamp(a.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(a.email, ", ".join(s), created)
        Console().print(table)

    _run(data_dir, database_url, work)


@account.command("remove")
@click.argument("email")
@_data_dir
@_db
def account_remove(email: str, data_dir: Path | None, database_url: str | None) -> None:
    """Remove an account and its station links; its tokens fail at once, messages stay."""

    async def work(store: Any) -> None:
        from relaybox.exchange.identity import checked_email

        address = checked_email(email)
        if not await store.accounts.remove(address):
            _fail(f"no account {address}")
        click.echo(f"account {address} removed")

    _run(data_dir, database_url, work)


# -- station ----------------------------------------------------------------------------------
@click.group()
def station() -> None:
    """Stations: the routes an account acts for."""


@station.command("add")
@click.argument("email")
@click.argument("route")
@click.option("--name", default=None, help="Station name (default: the route).")
@click.option("--comments", default=None, help="Station comments.")
@click.option("--secret", default=None, help="Secret of the route if it is created here.")
@_json
@_data_dir
@_db
def station_add(
    email: str,
    route: str,
    name: str | None,
    comments: str | None,
    secret: str | None,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Link ROUTE to the account EMAIL, creating the route (secret printed once) if missing."""
    _check_route(route)
    if name is not None and not 1 <= len(name) <= 128:
        raise click.BadParameter("1-128 characters", param_hint="--name")
    if comments is not None and len(comments) > 1024:
        raise click.BadParameter("at most 1024 characters", param_hint="--comments")

    async def work(store: Any) -> None:
        from relaybox.exchange.identity import checked_email
        from relaybox.store import random_secret

        address = checked_email(email)
        if await store.accounts.get(address) is None:
            _fail(f"no account {address}")
        created_secret = None
        if await store.get_route(route) is None:
            value = secret or random_secret()
            if await store.add_route(route, value, time.time()):
                created_secret = value
        elif secret is not None:
            click.echo(f"warning: route {route} exists; --secret ignored", err=True)
        await store.accounts.link(address, route, name, comments, time.time())
        doc = {
            "email": address,
            "route": route,
            "routeCreated": created_secret is not None,
            "secret": created_secret if secret is None else None,
        }
        text = f"station {route} linked to {address}"
        if created_secret is not None:
            text += f"\nroute {route} created" + (f"\nsecret: {created_secret}" if secret is None else "")
        _emit(as_json, doc, text)

    _run(data_dir, database_url, work)


@station.command("list")
@click.argument("email", required=False)
@_json
@_data_dir
@_db
def station_list(email: str | None, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List account-station links (of one account with EMAIL)."""

    async def work(store: Any) -> None:
        from relaybox.exchange.identity import checked_email

        links = await store.accounts.links(checked_email(email) if email else None)
        if as_json:
            click.echo(json.dumps([{"email": e, "route": r, "name": n or r} for e, r, n in links]))
            return
        for e, r, n in links:
            click.echo(f"{e}\t{r}\t{n or r}")

    _run(data_dir, database_url, work)


@station.command("remove")
@click.argument("email")
@click.argument("route")
@_data_dir
@_db
def station_remove(email: str, route: str, data_dir: Path | None, database_url: str | None) -> None:
    """Unlink ROUTE from the account; the route, its partners and messages stay."""

    async def work(store: Any) -> None:
        from relaybox.exchange.identity import checked_email

        address = checked_email(email)
        if not await store.accounts.unlink(address, route):
            _fail(f"{route} is not a station of {address}")
        click.echo(f"station {route} unlinked from {address}")

    _run(data_dir, database_url, work)


# -- partner ----------------------------------------------------------------------------------
def _partner_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--name", default=None),
            click.option("--description", default=None),
            click.option("--uri", default=None, help="Remote partner's URL (absent: a route on this server)."),
            click.option("--subject", default=None, help="Default message subject."),
            click.option("--type", "ptype", type=click.Choice(["production", "test"], case_sensitive=False)),
            click.option("--send-timeout", type=int, default=None, help="Seconds, 1..3600."),
            click.option("--header", "headers", multiple=True, help="KEY:VALUE custom header (repeatable)."),
            click.option("--request-mdn/--no-request-mdn", default=None),
            click.option("--pause-incoming/--no-pause-incoming", default=None),
            click.option("--pause-outgoing/--no-pause-outgoing", default=None),
            click.option(
                "--transport",
                type=click.Choice(TRANSPORTS, case_sensitive=False),
                help="How messages are pushed to --uri [default federation].",
            ),
            click.option(
                "--remote-route",
                default=None,
                help="Route to sign as on the remote gateway [default: the station].",
            ),
            click.option(
                "--remote-secret", default=None, help="That route's secret on the remote gateway (federation)."
            ),
            click.option("--push-secret", default=None, help="Shared key of https pushes: 16-128 printable ASCII."),
            click.option("--generate-push-secret", is_flag=True, help="Generate the push secret (printed once)."),
        ]
    ):
        f = option(f)
    return f


def _partner_doc(opts: dict[str, Any]) -> dict[str, Any]:
    """CLI options as a Partner body, so the API's checks and defaults apply unchanged."""
    doc: dict[str, Any] = {}
    names = {
        "name": "name",
        "description": "description",
        "uri": "uri",
        "subject": "messageSubject",
        "ptype": "partnerType",
        "send_timeout": "sendTimeout",
        "request_mdn": "requestMdn",
        "pause_incoming": "pauseIncoming",
        "pause_outgoing": "pauseOutgoing",
        "transport": "transport",
        "remote_route": "remoteRoute",
        "remote_secret": "remoteSecret",
        "push_secret": "pushSecret",
    }
    for opt, key in names.items():
        if opts.get(opt) is not None:
            doc[key] = opts[opt]
    if opts.get("headers"):
        pairs = []
        for raw in opts["headers"]:
            key, sep, value = raw.partition(":")
            if not sep:
                raise click.BadParameter(f"{raw!r} is not KEY:VALUE", param_hint="--header")
            pairs.append({"headerKey": key.strip(), "headerValue": value.strip()})
        doc["customHeaders"] = pairs
    return doc


def _generate_push_secret(opts: dict[str, Any]) -> str | None:
    """With --generate-push-secret: a new push secret (43 base64url characters), set in ``opts``."""
    if not opts.pop("generate_push_secret", False):
        return None
    if opts.get("push_secret") is not None:
        raise click.UsageError("use either --push-secret or --generate-push-secret")
    value = secrets.token_urlsafe(32)
    opts["push_secret"] = value
    return value


async def _management(store: Any) -> Any:
    from relaybox.config import Settings
    from relaybox.exchange.management import Management
    from relaybox.exchange.receipts import Receipts
    from relaybox.notify.hub import LocalHub

    return Management(store, LocalHub(), Settings(), Receipts(store))


def _partner_json(p: Any) -> dict[str, Any]:
    from relaybox.api.v1.entities import partner

    return partner(p)


def _managed(work: Any) -> Any:
    """Run ``work(management)``, turning API refusals into exit 1 with the API's message."""

    async def run(store: Any) -> None:
        from relaybox.errors import V1Error

        try:
            await work(await _management(store))
        except V1Error as exc:
            _fail(exc.message)

    return run


@click.group()
def partner() -> None:
    """Partners: the routes a station trades with (as /v1/partner)."""


def _show_partner(p: Any, as_json: bool, push_secret: str | None = None) -> None:
    """One partner; a generated ``push_secret`` is shown this once (JSON: ``pushSecret``)."""
    doc = _partner_json(p)
    if as_json:
        click.echo(json.dumps(doc if push_secret is None else {**doc, "pushSecret": push_secret}))
        return
    where = f" at {p.uri} via {p.transport}" if p.uri else ""
    flags = [f for f, on in (("paused in", p.pause_incoming), ("paused out", p.pause_outgoing)) if on]
    receipts = "receipts" if p.request_mdn else "no receipts"
    extra = f", {', '.join(flags)}" if flags else ""
    click.echo(f"partner {p.id}: {p.station} -> {p.route}{where} ({p.partner_type}, {receipts}{extra})")
    if push_secret is not None:
        click.echo(f"push secret: {push_secret} (shown once: give it to the partner now)", err=True)


@partner.command("add")
@click.argument("station_route")
@click.argument("partner_route")
@_partner_options
@_json
@_data_dir
@_db
def partner_add(
    station_route: str, partner_route: str, as_json: bool, data_dir: Path | None, database_url: str | None, **opts: Any
) -> None:
    """Add PARTNER_ROUTE as a partner of the station STATION_ROUTE."""
    generated = _generate_push_secret(opts)

    async def work(m: Any) -> None:
        from relaybox.exchange.management import with_push_secret
        from relaybox.wire.v1 import partner_fields

        doc = {**_partner_doc(opts), "stationAS2Id": station_route, "as2Identifier": partner_route}
        fields, auto = with_push_secret(partner_fields(doc, create=True), None)
        created = await m.create_partner(None, fields)
        _show_partner(created, as_json, generated or auto)

    _run(data_dir, database_url, _managed(work))


@partner.command("update")
@click.argument("partner_id", type=int)
@_partner_options
@_json
@_data_dir
@_db
def partner_update(
    partner_id: int, as_json: bool, data_dir: Path | None, database_url: str | None, **opts: Any
) -> None:
    """Change the given fields of partner PARTNER_ID (clearing --pause-outgoing delivers its queue)."""
    generated = _generate_push_secret(opts)

    async def work(m: Any) -> None:
        from relaybox.exchange.management import with_push_secret
        from relaybox.wire.v1 import partner_fields

        current = await m.store.partners.get(partner_id)
        fields, auto = with_push_secret(partner_fields(_partner_doc(opts), create=False), current)
        updated = await m.update_partner(None, partner_id, fields)
        _show_partner(updated, as_json, generated or auto)

    _run(data_dir, database_url, _managed(work))


@partner.command("list")
@click.argument("station_route", required=False)
@_json
@_data_dir
@_db
def partner_list(station_route: str | None, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List the partners (of one station)."""

    async def work(store: Any) -> None:
        stations = [station_route] if station_route else [r.route for r in await store.list_routes()]
        found = await store.partners.search(stations)
        if as_json:
            click.echo(json.dumps([_partner_json(p) for p in found]))
            return
        for p in found:
            _show_partner(p, False)

    _run(data_dir, database_url, work)


@partner.command("remove")
@click.argument("partner_id", type=int)
@_data_dir
@_db
def partner_remove(partner_id: int, data_dir: Path | None, database_url: str | None) -> None:
    """Remove partner PARTNER_ID; its queued messages become stopped."""

    async def work(m: Any) -> None:
        await m.delete_partner(None, partner_id)
        click.echo(f"partner {partner_id} removed")

    _run(data_dir, database_url, _managed(work))


@click.command("receipt-key")
@_json
@_data_dir
@_db
def receipt_key(as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Print the public key that verifies relaybox's signed receipts."""

    async def work(store: Any) -> None:
        from relaybox.exchange.receipts import Receipts

        receipts = Receipts(store)
        await receipts.start()
        doc = receipts.key_document
        _emit(as_json, doc, f"{doc['algorithm']} key {doc['keyId']}\n{doc['pem'].rstrip()}")

    _run(data_dir, database_url, work)


def _check_route(name: str) -> None:
    from relaybox.wire.headers import is_route

    if not is_route(name):
        raise click.BadParameter(f"{name!r} is not a route: local@domain, each part 1-64 of A-Z a-z 0-9 . _ -")


def register(cli: click.Group) -> None:
    for command in (account, station, partner, receipt_key):
        cli.add_command(command)
