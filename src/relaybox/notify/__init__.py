"""Wake-ups: long-poll waiters are woken when a message for their route commits."""

from __future__ import annotations

from relaybox.config import Settings
from relaybox.notify.hub import Hub, LocalHub, Subscription


def make_hub(settings: Settings) -> Hub:
    """In-process wake-ups for SQLite; LISTEN/NOTIFY across nodes for PostgreSQL."""
    url = settings.store_url
    if url.startswith(("postgresql://", "postgres://")):
        from relaybox.notify.pg_listen import PgHub

        return PgHub("postgresql://" + url.split("://", 1)[1])
    return LocalHub()


__all__ = ["Hub", "LocalHub", "Subscription", "make_hub"]
