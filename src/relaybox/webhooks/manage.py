"""The use cases of ``/v1/webhooks`` and ``relaybox webhook``: endpoints, secrets, test pings,
and the deliveries' lists and controls. ``caller`` None is the CLI (the server's operator)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from relaybox.config import Settings
from relaybox.errors import FORBIDDEN, V1Error, bad_request, not_found
from relaybox.exchange.identity import Caller
from relaybox.store.base import DeliveryFailure, DeliveryRecord, Store, WebhookRecord
from relaybox.store.webhooks import DeliveryQuery
from relaybox.webhooks.delivery import Outbox, PingResult
from relaybox.webhooks.signature import new_secret, valid_secret
from relaybox.wire.endpoints import endpoint_fields
from relaybox.wire.ids import new_webhook_id


def webhook_not_found(webhook_id: str) -> V1Error:
    return not_found(f"Webhook {webhook_id[:64]} not found")


def delivery_not_found(delivery_id: str) -> V1Error:
    return not_found(f"Delivery {delivery_id[:64]} not found")


class Webhooks:
    def __init__(
        self, store: Store, settings: Settings, outbox: Outbox, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.settings = settings
        self.outbox = outbox
        self.clock = clock

    # -- endpoints ---------------------------------------------------------------------------
    async def create(self, caller: Caller | None, doc: Any) -> tuple[WebhookRecord, str]:
        """The endpoint and its secret (shown this once)."""
        fields = endpoint_fields(doc, create=True, require_https=self.settings.webhook_require_https)
        station = fields["station"]
        if caller is not None and not caller.owns(station):
            raise V1Error(403, FORBIDDEN)
        if caller is None and await self.store.get_route(station) is None:
            raise bad_request(f"Station {station} is not a route on this server")
        secret = fields.pop("secret", None) or new_secret()
        if not valid_secret(secret):
            raise bad_request("secret must be whsec_ followed by the standard base64 of 24 to 64 bytes")
        now = self.clock()
        fields.update(
            id=new_webhook_id(now),
            secret=secret,
            disabled_reason=None if fields["enabled"] else "user",
            failing_since=None,
            created_at=now,
            updated_at=now,
        )
        found = await self.store.webhooks.add(fields, self.settings.webhook_max_endpoints)
        if found is None:
            raise V1Error(409, f"Station {station} already has {self.settings.webhook_max_endpoints} webhook endpoints")
        return found, secret

    async def get(self, caller: Caller | None, webhook_id: str) -> WebhookRecord:
        found = await self.store.webhooks.get(webhook_id)
        if found is None or (caller is not None and not caller.owns(found.station)):
            raise webhook_not_found(webhook_id)
        return found

    async def page(
        self, caller: Caller, station: str | None, offset: int, limit: int
    ) -> tuple[int, list[WebhookRecord]]:
        if station is not None and not caller.owns(station):
            raise V1Error(403, FORBIDDEN)
        stations = [station] if station is not None else list(caller.stations)
        if not stations:
            return 0, []
        return await self.store.webhooks.page(stations, offset, limit)

    async def update(self, caller: Caller | None, webhook_id: str, doc: Any) -> WebhookRecord:
        await self.get(caller, webhook_id)
        changes = endpoint_fields(doc, create=False, require_https=self.settings.webhook_require_https)
        found = await self.store.webhooks.update(webhook_id, changes, self.clock())
        if found is None:
            raise webhook_not_found(webhook_id)
        return found

    async def remove(self, caller: Caller | None, webhook_id: str) -> None:
        await self.get(caller, webhook_id)
        await self.store.webhooks.remove(webhook_id)

    async def rotate(self, caller: Caller | None, webhook_id: str) -> tuple[WebhookRecord, str]:
        await self.get(caller, webhook_id)
        secret = new_secret()
        found = await self.store.webhooks.update(webhook_id, {"secret": secret}, self.clock())
        if found is None:
            raise webhook_not_found(webhook_id)
        return found, secret

    async def test(self, caller: Caller | None, webhook_id: str) -> PingResult:
        return await self.outbox.ping(await self.get(caller, webhook_id))

    async def list_all(self, station: str | None) -> list[WebhookRecord]:
        return await self.store.webhooks.list_all(station)

    # -- deliveries ----------------------------------------------------------------------------
    def query(self, caller: Caller, kind: str, **fields: Any) -> DeliveryQuery:
        return DeliveryQuery(kind=kind, stations=tuple(caller.stations), **fields)

    async def deliveries(self, q: DeliveryQuery) -> tuple[int, list[DeliveryRecord | DeliveryFailure]]:
        if not q.stations:
            return 0, []
        return await self.store.webhooks.deliveries_page(q)

    async def delivery(self, caller: Caller, kind: str, delivery_id: str) -> DeliveryRecord | DeliveryFailure:
        _, found = await self.deliveries(self.query(caller, kind, delivery_id=delivery_id, limit=1))
        if not found:
            raise delivery_not_found(delivery_id)
        return found[0]

    async def stop(self, caller: Caller, delivery_id: str) -> None:
        if not caller.stations or not await self.store.webhooks.stop(list(caller.stations), delivery_id):
            raise delivery_not_found(delivery_id)

    async def retry(self, caller: Caller, delivery_id: str) -> None:
        done = (
            await self.store.webhooks.retry(list(caller.stations), delivery_id, self.clock())
            if caller.stations
            else None
        )
        if done is None:
            raise delivery_not_found(delivery_id)
        if not done:
            raise V1Error(409, f"The endpoint of delivery {delivery_id} is disabled: enable it first")

    async def delete(self, caller: Caller, kind: str, ids: Sequence[str]) -> int:
        if not caller.stations:
            return 0
        return await self.store.webhooks.delete_deliveries(kind, list(caller.stations), ids)


def render_endpoint(w: WebhookRecord, secret: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": w.id,
        "stationAS2Id": w.station,
        "url": w.url,
        "eventTypes": list(w.event_types),
        "enabled": w.enabled,
        "description": w.description,
        "standardWebhooks": w.standard_webhooks,
        "timeout": w.timeout,
        "disabledReason": w.disabled_reason,
        "createdTimestamp": _ms(w.created_at),
        "updatedTimestamp": _ms(w.updated_at),
    }
    if secret is not None:
        doc["secret"] = secret
    return doc


def render_delivery(d: DeliveryRecord | DeliveryFailure) -> dict[str, Any]:
    if isinstance(d, DeliveryFailure):
        return {
            "deliveryId": d.delivery_id,
            "webhookId": d.webhook_id,
            "eventId": d.event_id,
            "eventType": d.event_type,
            "attempt": d.attempt,
            "persistedTimestamp": _ms(d.attempted_at),
            "statusCode": d.status,
            "error": d.error,
            "durationMs": d.duration_ms,
            "responseExcerpt": d.excerpt,
        }
    return {
        "deliveryId": d.id,
        "webhookId": d.webhook_id,
        "eventId": d.event_id,
        "eventType": d.event_type,
        "state": d.state,
        "attempts": d.attempts,
        "nextAttemptTimestamp": _ms(d.next_at) if d.state == "queued" else None,
        "lastAttemptTimestamp": _ms(d.last_at),
        "lastStatusCode": d.last_status,
        "lastError": d.last_error,
        "stopReason": d.stop_reason,
        "persistedTimestamp": _ms(d.created_at),
    }


def render_ping(p: PingResult) -> Mapping[str, Any]:
    return {"eventId": p.event_id, "ok": p.ok, "statusCode": p.status, "durationMs": p.duration_ms, "error": p.error}


def _ms(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1000)
