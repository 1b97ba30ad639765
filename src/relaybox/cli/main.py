"""``relaybox``: the server side (serve, route ...) and the client side (send, list, ...).

Server commands import the server's dependencies only when they run, so the client side works
with the plain ``pip install relaybox``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from relaybox import __version__
from relaybox.cli import apikey_cmds, client_cmds, contacts_cmds, keys_cmds, manage_cmds, provision, webhook_cmds
from relaybox.cli._store import data_dir_option, db_option, run_with_store, settings_from
from relaybox.wire.headers import is_route

_data_dir = data_dir_option
_db = db_option


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="relaybox")
def cli() -> None:
    """relaybox: a self-hosted, signed-request message exchange gateway."""


@cli.command()
@click.option("--host", envvar="RELAYBOX_HOST", default=None, help="Address to bind [default 127.0.0.1]")
@click.option("--port", envvar="RELAYBOX_PORT", type=int, default=None, help="Port to bind [default 8080]")
@_data_dir
@_db
@click.option("--demo", is_flag=True, help="On first start, create two demo routes and print their secrets.")
@click.option(
    "--workers", envvar="RELAYBOX_WORKERS", type=int, default=None, help="Server processes [default: number of cores]"
)
@click.option(
    "--tls-cert",
    envvar="RELAYBOX_TLS_CERT",
    type=click.Path(path_type=Path),
    default=None,
    help="Serve HTTPS: PEM certificate (chain).",
)
@click.option(
    "--tls-key",
    envvar="RELAYBOX_TLS_KEY",
    type=click.Path(path_type=Path),
    default=None,
    help="PEM private key of --tls-cert.",
)
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    database_url: str | None,
    demo: bool,
    workers: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Serve the route API (/1) and the management API (/v1)."""
    from relaybox.cli._serve import run_server

    settings = settings_from(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        workers=workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    run_server(settings, demo=demo)


@cli.group()
def route() -> None:
    """Manage routes (partners' addresses) and their secrets."""


@route.command("add")
@click.argument("name")
@click.option("--secret", default=None, help="Use this secret instead of a generated one.")
@click.option(
    "--require-signature",
    is_flag=True,
    help="Refuse this route's calls without a request-signature v2 (see `route require-signature`).",
)
@_data_dir
@_db
def route_add(
    name: str, secret: str | None, require_signature: bool, data_dir: Path | None, database_url: str | None
) -> None:
    """Create route NAME (local@domain); prints its secret once."""
    _check_route(name)
    if secret is not None and (not secret or len(secret) > 512 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in secret)):
        raise click.BadParameter("must be 1-512 characters without control characters", param_hint="--secret")

    async def work(store: Any) -> None:
        import time

        from relaybox.store import random_secret

        value = secret or random_secret()
        if not await store.add_route(name, value, time.time(), require_signature=require_signature):
            _fail(f"route {name} already exists")
        click.echo(f"route {name} created")
        if secret is None:
            click.echo(f"secret: {value}")
            click.echo("(shown once: store it now; `relaybox route rotate-secret` makes a new one)", err=True)

    run_with_store(settings_from(data_dir=data_dir, database_url=database_url), work)


@route.command("list")
@_data_dir
@_db
def route_list(data_dir: Path | None, database_url: str | None) -> None:
    """List routes (secrets are never shown)."""

    async def work(store: Any) -> None:
        from datetime import UTC, datetime

        from rich.console import Console
        from rich.table import Table

        rows = await store.list_routes()
        table = Table("route", "enabled", "created (UTC)", "signature")
        for r in rows:
            created = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(
                r.route, "yes" if r.enabled else "no", created, "required" if r.require_signature else "optional"
            )
        Console().print(table)

    run_with_store(settings_from(data_dir=data_dir, database_url=database_url), work)


@route.command("remove")
@click.argument("name")
@_data_dir
@_db
def route_remove(name: str, data_dir: Path | None, database_url: str | None) -> None:
    """Remove route NAME; its undelivered messages are purged."""
    _check_route(name)

    async def work(store: Any) -> None:
        if not await store.remove_route(name):
            _fail(f"no route {name}")
        click.echo(f"route {name} removed")

    run_with_store(settings_from(data_dir=data_dir, database_url=database_url), work)


@route.command("rotate-secret")
@click.argument("name")
@_data_dir
@_db
def route_rotate(name: str, data_dir: Path | None, database_url: str | None) -> None:
    """Give route NAME a new generated secret (printed once); the old one stops working."""
    _check_route(name)

    async def work(store: Any) -> None:
        from relaybox.store import random_secret

        value = random_secret()
        if not await store.set_secret(name, value):
            _fail(f"no route {name}")
        click.echo(f"secret: {value}")

    run_with_store(settings_from(data_dir=data_dir, database_url=database_url), work)


@route.command("require-signature")
@click.argument("name")
@click.option("--on/--off", "required", default=True, show_default=True, help="Require it, or make it optional again.")
@_data_dir
@_db
def route_require_signature(name: str, required: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Make route NAME's calls need a request-signature v2 (--on) or not (--off).

    Without it such calls are refused with 401 code 101 "request-signature required"; the
    relaybox SDK and CLI send it by default, the vendor's shell recipes do not.
    """
    _check_route(name)

    async def work(store: Any) -> None:
        if not await store.set_require_signature(name, required):
            _fail(f"no route {name}")
        click.echo(f"route {name}: request-signature {'required' if required else 'optional'}")

    run_with_store(settings_from(data_dir=data_dir, database_url=database_url), work)


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@_data_dir
@_db
def db_upgrade(data_dir: Path | None, database_url: str | None) -> None:
    """Create or migrate the store's schema to the newest version."""

    async def work(store: Any) -> None:
        click.echo("store is at the newest schema")

    run_with_store(settings_from(data_dir=data_dir, database_url=database_url), work)


@db.command("copy")
@click.option(
    "--from", "source_url", required=True, help="Store to copy from, e.g. sqlite:///relaybox-data/relaybox.db"
)
@click.option("--to", "target_url", required=True, help="Store to copy into, e.g. postgresql://user@host/relaybox")
def db_copy(source_url: str, target_url: str) -> None:
    """Copy routes and unexpired messages (with payloads, MD5-verified) between stores."""
    from relaybox.cli._copy import run_copy

    run_copy(source_url, target_url)


def _check_route(name: str) -> None:
    if not is_route(name):
        raise click.BadParameter(f"{name!r} is not a route: local@domain, each part 1-64 of A-Z a-z 0-9 . _ -")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


client_cmds.register(cli)
manage_cmds.register(cli)
provision.register(cli)
webhook_cmds.register(cli)
apikey_cmds.register(cli)
keys_cmds.register(cli)
cli.add_command(contacts_cmds.contacts)


def main() -> None:
    cli(prog_name="relaybox")
