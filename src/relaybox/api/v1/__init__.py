"""The management API (/v1), modelled on the AS2 Gateway REST API. Handlers are thin: they
read the request, call ``relaybox.exchange.management``, and render the seed's entities."""

from __future__ import annotations

from starlette.routing import Route

from relaybox.api.v1 import addressbook, apikeys, messages, partners, session, stations, webhooks


def handlers() -> list[Route]:
    # Concrete paths first: Starlette takes the first route whose path matches.
    return [
        Route("/v1/authorize", session.authorize, methods=["POST"]),
        Route("/v1/receipt-key", session.receipt_key, methods=["GET"]),
        Route("/v1/message/received/batch/attachments", messages.batch, methods=["POST"]),
        Route("/v1/message/received/{id}/markUnread", messages.mark_unread, methods=["POST"]),
        Route("/v1/message/queued/{id}/stop", messages.stop, methods=["POST"]),
        Route("/v1/message/queued/{id}/retry", messages.retry, methods=["POST"]),
        Route("/v1/message/{kind}/{id}/attachments", messages.attachment, methods=["GET"]),
        Route("/v1/message/{kind}/{id}/attachments/{index}", messages.attachment, methods=["GET"]),
        Route("/v1/message/{kind}/{id}/mdn", messages.receipt, methods=["GET"]),
        Route("/v1/message/{kind}/{id}", messages.message, methods=["GET", "POST", "DELETE"]),
        Route("/v1/message/{kind}", messages.list_messages, methods=["GET"]),
        Route("/v1/message/{kind}", messages.bulk_delete, methods=["DELETE"]),
        Route("/v1/partner", partners.list_partners, methods=["GET"]),
        Route("/v1/partner", partners.create_partner, methods=["POST"]),
        Route("/v1/partner/{partner_id}", partners.get_partner, methods=["GET"]),
        Route("/v1/partner/{partner_id}", partners.update_partner, methods=["PUT"]),
        Route("/v1/partner/{partner_id}", partners.delete_partner, methods=["DELETE"]),
        Route("/v1/station", stations.list_stations, methods=["GET"]),
        *addressbook.routes(),
        Route("/v1/apikeys", apikeys.list_keys, methods=["GET"]),
        Route("/v1/apikeys", apikeys.create, methods=["POST"]),
        Route("/v1/apikeys/{public_key}", apikeys.revoke, methods=["DELETE"]),
        Route("/v1/webhooks", webhooks.list_endpoints, methods=["GET"]),
        Route("/v1/webhooks", webhooks.create, methods=["POST"]),
        Route("/v1/webhooks/deliveries/queued/{id}/stop", webhooks.stop, methods=["POST"]),
        Route("/v1/webhooks/deliveries/queued/{id}/retry", webhooks.retry, methods=["POST"]),
        Route("/v1/webhooks/deliveries/{kind}/{id}", webhooks.delivery, methods=["GET", "DELETE"]),
        Route("/v1/webhooks/deliveries/{kind}", webhooks.list_deliveries, methods=["GET"]),
        Route("/v1/webhooks/deliveries/{kind}", webhooks.bulk_delete, methods=["DELETE"]),
        Route("/v1/webhooks/{id}/rotate-secret", webhooks.rotate, methods=["POST"]),
        Route("/v1/webhooks/{id}/test", webhooks.test, methods=["POST"]),
        Route("/v1/webhooks/{id}", webhooks.endpoint, methods=["GET", "PUT", "DELETE"]),
    ]
