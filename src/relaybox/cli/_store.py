"""Settings and store access for the server-side commands (imports server deps lazily)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

# The options that point a server-side command at its store (as ``serve`` resolves them).
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="RELAYBOX_DATA_DIR",
    default=None,
    help="Directory of the embedded store and payloads [env RELAYBOX_DATA_DIR; default ./relaybox-data]",
)
db_option = click.option(
    "--db",
    "database_url",
    envvar="RELAYBOX_DATABASE_URL",
    default=None,
    help="Database URL instead of the embedded SQLite store [env RELAYBOX_DATABASE_URL]",
)


def settings_from(**flags: Any) -> Any:
    """One ``Settings`` object: flags given on the command line win over ``RELAYBOX_*``."""
    try:
        from pydantic import ValidationError

        from relaybox.config import Settings
    except ImportError:  # pragma: no cover - depends on the install
        click.echo("error: server commands need `pip install 'relaybox[server]'`", err=True)
        sys.exit(1)
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        click.echo(f"error: invalid settings: {problems}", err=True)
        sys.exit(2)


async def open_or_exit(store: Any, what: str) -> None:
    """Open (and migrate) ``store``; a store that cannot be opened ends the command with exit 1."""
    from relaybox.errors import RelayboxError

    try:
        await store.open()
        await store.check_sealed()
    except RelayboxError as exc:
        click.echo(f"error: cannot open {what}: {exc.detail}", err=True)
        sys.exit(1)


def run_with_store(settings: Any, work: Callable[[Any], Awaitable[None]]) -> None:
    """Open the store (migrating it), run ``work(store)``, close it; clear message on failure."""
    from relaybox.errors import RelayboxError
    from relaybox.store import make_store

    async def main() -> None:
        store = make_store(settings)
        await open_or_exit(store, f"the store at {_where(settings)}")
        try:
            await work(store)
        finally:
            await store.close()

    try:
        asyncio.run(main())
    except RelayboxError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)


def _where(settings: Any) -> str:
    return str(settings.database_url.split("@")[-1] if settings.database_url else settings.data_dir)
