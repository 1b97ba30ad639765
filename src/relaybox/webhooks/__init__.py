"""Webhooks: signed events that relaybox POSTs to the endpoints stations register.

This package has two halves:

- The SDK half, re-exported here (``verify``, ``sign``, ``WebhookVerificationError``,
  ``new_secret``, ``valid_secret``; all in ``signature.py``), is pure standard library, so a
  receiver can ``pip install relaybox`` without the server extra and check requests with it.
- The server half (event building, the delivery worker) lives in modules of its own here and is
  never imported from this file: importing ``relaybox.webhooks`` must not pull in the server's
  dependencies (``tests/test_webhook_signature.py`` checks it).

Example, in a receiver::

    from relaybox.webhooks import WebhookVerificationError, verify

    try:
        event = verify(body, headers, secret)  # the raw body bytes, before any JSON parsing
    except WebhookVerificationError as exc:
        ...  # answer 401; exc.reason says why
    else:
        ...  # handle event["event_type"], deduplicating on event["event_id"]
"""

from __future__ import annotations

from relaybox.webhooks.signature import WebhookVerificationError, new_secret, sign, valid_secret, verify

__all__ = ["WebhookVerificationError", "new_secret", "sign", "valid_secret", "verify"]
