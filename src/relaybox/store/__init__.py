"""Persistence: the only package that imports SQLAlchemy.

``open_store(settings)`` picks the backend from the database URL.
"""

from __future__ import annotations

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


def make_store(settings: Settings) -> Store:
    """A store for ``settings`` (not yet opened: call ``await store.open()``)."""
    url = settings.store_url
    if not url.startswith("sqlite"):
        raise SystemExit(f"unsupported database URL {url.split(':', 1)[0]!r}: this version supports SQLite")
    return SqlStore(url, settings.data_dir)


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
    "random_secret",
]
