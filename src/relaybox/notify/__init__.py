"""Wake-ups: long-poll waiters are woken when a message for their route commits."""

from relaybox.notify.hub import Hub, LocalHub, Subscription

__all__ = ["Hub", "LocalHub", "Subscription"]
