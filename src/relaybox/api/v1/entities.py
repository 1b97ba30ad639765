"""The seed's entities as JSON: AS2 Message, MDN Message, Partner, Station, Pagination."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from relaybox.store.base import PartnerRecord, StationRecord
from relaybox.store.views import MessageView


def ms(t: float) -> int:
    return int(round(t * 1000))


def mdn_status(view: MessageView) -> str:
    m = view.message
    if not m.receipt_requested:
        return "Not Requested"
    return "Received" if m.receipt_at is not None else "Pending"


def as2_message(view: MessageView, kind: str) -> dict[str, Any]:
    m = view.message
    out: dict[str, Any] = {
        "as2MessageId": m.link,
        "messageId": m.message_id,
        "persistedTimestamp": ms(view.failure.attempted_at if view.failure else m.received_at),
        "expiryTimestamp": ms(m.expires_at),
        "compressed": False,
        "encrypted": False,
        "signed": False,
    }
    if m.subject is not None:
        out["subject"] = m.subject
    out["senderId"] = m.sender
    out["receiverId"] = m.recipient
    if kind == "received":
        out["partnerType"] = m.receiver_type
        out["read"] = view.read
    else:
        out["partnerType"] = m.sender_type
        if view.failure is not None:
            if view.failure.status is not None:  # None: a timeout or connection error
                out["transportStatusReceived"] = view.failure.status
            out["deliveryStatus"] = "Not Delivered"
            out["state"] = "failed"
        elif m.state == "sent":
            out["transportStatusReceived"] = view.pushed_status or 200  # a local delivery counts as 200
            out["deliveryStatus"] = "Delivered"
            out["state"] = "sent"
        else:
            out["deliveryStatus"] = "No Status"
            out["state"] = m.state
    out["mdnStatus"] = mdn_status(view)
    if m.receipt_at is not None:
        at = datetime.fromtimestamp(m.receipt_at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out["mdnMessage"] = {
            "persistedTimestamp": ms(m.receipt_at),
            "mdnError": False,
            "content": (
                f"Message {m.link} from {m.sender} to {m.recipient} was downloaded by the receiver at {at}; "
                f"SHA-256 of {m.attachment_count} attachment(s) recorded."
            ),
        }
    out["attachments"] = [{"name": a.file_name, "size": a.size} for a in view.attachments]
    return out


def pagination(total: int, views: list[MessageView], kind: str) -> dict[str, Any]:
    return {"totalRecords": total, "records": [as2_message(v, kind) for v in views]}


def partner(p: PartnerRecord) -> dict[str, Any]:
    return {
        "partnerId": p.id,
        "stationAS2Id": p.station,
        "as2Identifier": p.route,
        "name": p.name,
        "description": p.description,
        "uri": p.uri,
        "messageSubject": p.message_subject,
        "customHeaders": [{"headerKey": k, "headerValue": v} for k, v in p.custom_headers],
        "pauseIncoming": p.pause_incoming,
        "pauseOutgoing": p.pause_outgoing,
        "sendTimeout": p.send_timeout,
        "partnerType": p.partner_type,
        "requestMdn": p.request_mdn,
        # Push settings; the secrets are write-only (only whether one is set shows).
        "transport": p.transport,
        "remoteRoute": p.remote_route,
        "remoteSecretSet": p.remote_secret is not None,
        "pushSecretSet": p.push_secret is not None,
    }


def station(s: StationRecord, email: str) -> dict[str, Any]:
    return {"id": s.id, "as2Identifier": s.route, "name": s.name or s.route, "comments": s.comments, "email": email}


def fanout(result: dict[str, Any]) -> dict[str, Any]:
    """A fan-out's answer in the management API's camelCase."""
    recipients = []
    for r in result["recipients"]:
        entry = {("contactIds" if k == "contact_ids" else k): v for k, v in r.items()}
        recipients.append(entry)
    return {
        "to": result["to"],
        "messageId": result["message_id"],
        "accepted": result["accepted"],
        "queued": result["queued"],
        "rejected": result["rejected"],
        "recipients": recipients,
    }
