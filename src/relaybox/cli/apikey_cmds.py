"""``relaybox apikey create|list|revoke``: API keys for HMAC-signed /v1 requests (RCWS and
Date+digest, docs/request-signing.md), straight on the store like ``account``.

Exit 0 = done, 1 = refused (one line on stderr), 2 = usage. The private key is printed by
``create`` only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from relaybox.cli.provision import _data_dir, _db, _fail, _json, _run


@click.group()
def apikey() -> None:
    """API keys for HMAC-signed /v1 requests (RCWS, Date+digest)."""


@apikey.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the key is for (shown in lists).")
@click.option("--expires", "days", type=click.IntRange(1, 36500), default=None, help="Expire after DAYS days.")
@click.option("--require-timestamp", is_flag=True, help="Refuse RCWS requests without request-timestamp.")
@_json
@_data_dir
@_db
def create(
    email: str,
    name: str,
    days: int | None,
    require_timestamp: bool,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Make a key pair for the account EMAIL; the private key is shown this once."""

    async def work(store: Any) -> None:
        from relaybox.exchange.identity import checked_email, create_api_key, render_key

        address = checked_email(email)
        account = await store.accounts.get(address)
        if account is None:
            _fail(f"no account {address}")
        now = time.time()
        key = await create_api_key(store, account.id, name, days, require_timestamp, now)
        if as_json:
            click.echo(json.dumps(render_key(key, account.email, now, private=True)))
            return
        click.echo(f"public key:  {key.public_key}")
        click.echo(f"private key: {key.private_key}")
        click.echo("the private key is shown only now: store it where the client can read it", err=True)

    _run(data_dir, database_url, work)


@apikey.command("list")
@click.argument("email", required=False)
@_json
@_data_dir
@_db
def list_keys(email: str | None, as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List keys (of one account, or all); never a private key."""

    async def work(store: Any) -> None:
        from datetime import UTC, datetime

        from relaybox.exchange.identity import checked_email, render_key

        account_id = None
        if email is not None:
            account = await store.accounts.get(checked_email(email))
            if account is None:
                _fail(f"no account {email}")
            account_id = account.id
        now = time.time()
        found = await store.apikeys.list(account_id)
        if as_json:
            click.echo(json.dumps([render_key(k, e, now) for k, e in found]))
            return
        from rich.console import Console
        from rich.table import Table

        def when(ts: float | None) -> str:
            return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")

        table = Table("public key", "account", "name", "created", "expires", "last used", "state")
        for k, e in found:
            table.add_row(
                k.public_key, e, k.name, when(k.created_at), when(k.expires_at), when(k.last_used_at), k.state(now)
            )
        Console(width=160).print(table)

    _run(data_dir, database_url, work)


@apikey.command("revoke")
@click.argument("public_key")
@_data_dir
@_db
def revoke(public_key: str, data_dir: Path | None, database_url: str | None) -> None:
    """Revoke a key: refused from the next request on."""

    async def work(store: Any) -> None:
        if not await store.apikeys.revoke(public_key, time.time()):
            _fail(f"no active API key {public_key}")
        click.echo(f"API key {public_key} revoked")

    _run(data_dir, database_url, work)


def register(cli: click.Group) -> None:
    cli.add_command(apikey)
