"""Persistence: the only package that imports SQLAlchemy.

``open_store(settings)`` picks the backend from the database URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from relaybox.auth.sealed import Sealer
from relaybox.config import Settings
from relaybox.store.base import (
    BlobWriter,
    MessageRecord,
    NewMessage,
    Payload,
    RouteRecord,
    SendOutcome,
    Store,
    SweepReport,
)
from relaybox.store.sql import SqlStore, random_secret

SUPPORTED = ("sqlite:///", "postgresql://", "postgres://")


def make_store(settings: Settings) -> Store:
    """A store for ``settings`` (not yet opened: call ``await store.open()``)."""
    return store_for_url(settings.store_url, settings)


S = TypeVar("S", bound=SqlStore)


def _sealed(store: S, settings: Settings) -> S:
    store.sealer = Sealer(settings.master_key)
    return store


def store_for_url(url: str, settings: Settings) -> Store:
    if url.startswith("sqlite:///"):
        from relaybox.store.sqlite import SqliteStore

        data_dir = settings.data_dir if url == settings.store_url else _sqlite_dir(url)
        return _sealed(SqliteStore(url, data_dir), settings)
    if url.startswith(("postgresql://", "postgres://")):
        from relaybox.store.postgres import PostgresStore

        return _sealed(
            PostgresStore(url, pool_size=settings.db_pool_size, max_overflow=settings.db_pool_overflow), settings
        )
    raise ValueError(f"unsupported database URL (use {', '.join(SUPPORTED)}...)")


def _sqlite_dir(url: str) -> Path:
    """Payload files live beside the database file."""
    return Path(url.removeprefix("sqlite:///")).parent


__all__ = [
    "BlobWriter",
    "MessageRecord",
    "NewMessage",
    "Payload",
    "RouteRecord",
    "SendOutcome",
    "SqlStore",
    "Store",
    "SweepReport",
    "make_store",
    "store_for_url",
    "random_secret",
]
