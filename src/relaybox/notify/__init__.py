"""Wake-ups: long-poll waiters are woken when a message for their route commits."""

from __future__ import annotations

from relaybox.config import Settings
from relaybox.notify.hub import Hub, LocalHub, Subscription


def make_hub(settings: Settings) -> Hub:
    """In-process wake-ups for one SQLite process, loopback datagrams between SQLite workers,
    LISTEN/NOTIFY across nodes for PostgreSQL."""
    url = settings.store_url
    if url.startswith(("postgresql://", "postgres://")):
        from relaybox.notify.pg_listen import PgHub

        return PgHub("postgresql://" + url.split("://", 1)[1])
    if settings.workers > 1:
        from relaybox.notify.ipc import UdpHub

        return UdpHub(settings.data_dir / "run")
    return LocalHub()


__all__ = ["Hub", "LocalHub", "Subscription", "make_hub"]
