"""``relaybox keys generate|rotate``: the master key that seals stored secrets at rest
(``RELAYBOX_MASTER_KEY``, docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from relaybox.cli._store import data_dir_option, db_option, run_with_store, settings_from


@click.group()
def keys() -> None:
    """The master key sealing stored secrets at rest (RELAYBOX_MASTER_KEY)."""


@keys.command("generate")
def generate() -> None:
    """Print a new master key (put it first in RELAYBOX_MASTER_KEY, then run `keys rotate`)."""
    from relaybox.auth.sealed import new_key

    click.echo(new_key())


@keys.command("rotate")
@data_dir_option
@db_option
def rotate(data_dir: Path | None, database_url: str | None) -> None:
    """Re-seal every stored secret with the first key of RELAYBOX_MASTER_KEY.

    Route secrets, API private keys, webhook endpoint secrets and partners' remote and push
    secrets; plaintext ones (stored before a key was set) are sealed too.

    To change keys: RELAYBOX_MASTER_KEY="NEW,OLD" relaybox keys rotate; then drop OLD."""
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    if not settings.master_key:
        click.echo("error: set RELAYBOX_MASTER_KEY (relaybox keys generate makes one)", err=True)
        raise SystemExit(1)

    async def work(store: Any) -> None:
        changed = await store.reseal_secrets()
        click.echo(f"{changed} secrets sealed with the first key")

    run_with_store(settings, work)


def register(cli: click.Group) -> None:
    cli.add_command(keys)
