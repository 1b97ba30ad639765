"""``relaybox db copy``: the command-line face of ``relaybox.store.copy``."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from relaybox.cli._store import open_or_exit, settings_from


def run_copy(source_url: str, target_url: str) -> None:
    from relaybox.errors import RelayboxError
    from relaybox.store import store_for_url
    from relaybox.store.copy import copy_store

    if source_url == target_url:
        raise click.BadParameter("--from and --to are the same store")
    settings = settings_from()
    console = Console(stderr=True)

    async def main() -> Any:
        try:
            source, target = store_for_url(source_url, settings), store_for_url(target_url, settings)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        await open_or_exit(source, f"the source store {_safe(source_url)}")
        try:
            await open_or_exit(target, f"the target store {_safe(target_url)}")
        except SystemExit:
            await source.close()
            raise
        try:
            with Progress(TextColumn("copying messages"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
                task = bar.add_task("copy", total=None)
                return await copy_store(source, target, on_message=lambda _m: bar.advance(task))
        finally:
            await source.close()
            await target.close()

    try:
        report = asyncio.run(main())
    except RelayboxError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(
        f"routes: {report.routes_copied} copied, {report.routes_skipped} already there; "
        f"accounts, stations and partners: {report.directory_rows} rows added; "
        f"messages: {report.messages_copied} copied and MD5-verified ({report.bytes_copied} bytes), "
        f"{report.messages_skipped} already there"
    )


def _safe(url: str) -> str:
    """A URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('@')[-1]}"
