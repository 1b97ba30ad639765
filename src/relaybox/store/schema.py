"""Every table and index in one place (SQLAlchemy Core). Migrations under ``migrations/``
create exactly this; ``tests/test_store_schema.py`` checks that they agree."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

routes = Table(
    "routes",
    metadata,
    Column("route", String(129), primary_key=True),
    Column("secret", String(512), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Double, nullable=False),
    # (0006) refuse route-API calls that carry no ``request-signature`` v2
    Column("require_signature", Boolean, nullable=False, server_default=false()),
)

# One row per stored file. Messages point at payloads so that one payload can later serve
# many recipients (address-book fan-out) and is deleted when nothing points at it.
payloads = Table(
    "payloads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("md5", String(32), nullable=False),
    Column("created_at", Double, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    # Arrival order: get-next-message walks by this, never by wall clock. AUTOINCREMENT on
    # SQLite so a deleted newest row never hands its number to a later message.
    Column("seq", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True),
    Column("link", String(128), nullable=False, unique=True),
    Column("recipient", String(129), nullable=False),
    Column("sender", String(129), nullable=False),
    Column("message_id", String(128), nullable=False),
    Column("md5", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("pay_for_reply", Boolean, nullable=False, default=False),
    Column("priority", String(16), nullable=False, default="normal"),
    Column("received_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    # NULL once purged: the row stays as a tombstone cursor until tombstone_ttl.
    Column("payload_id", String(64), ForeignKey("payloads.id"), nullable=True),
    # -- management API (0003). The row above is attachment 0 and the receiver's mailbox
    # entry; these say what /v1 adds: more attachments, the sender's view, the sending state.
    Column("subject", String(255), nullable=True),
    Column("content_type", String(255), nullable=False, server_default="application/octet-stream"),
    Column("sha256", String(64), nullable=True),  # NULL only on messages stored before 0003
    Column("attachment_count", Integer, nullable=False, server_default="1"),
    # sent: in the receiver's mailbox; queued/stopped: not yet (a delivery re-inserts the row
    # so that it gets a new seq and cannot slip behind a mailbox walker's cursor).
    Column("state", String(8), nullable=False, server_default="sent"),
    Column("sender_deleted", Boolean, nullable=False, server_default=false()),
    Column("receiver_deleted", Boolean, nullable=False, server_default=false()),
    # Partner resolution, fixed at commit: each side's partnerType, and whether a receipt is due.
    Column("sender_type", String(10), nullable=False, server_default="Production"),
    Column("receiver_type", String(10), nullable=False, server_default="Production"),
    Column("receipt_requested", Boolean, nullable=False, server_default=false()),
    Column("receipt_at", Double, nullable=True),
    # -- webhooks (0004): the first download of attachment bytes by the receiver and the
    # first /v1 mark-as-read, each emitted once as a message.status event.
    Column("delivered_at", Double, nullable=True),
    Column("read_at", Double, nullable=True),
    # -- fan-out (0005): the list a copy was sent to ("list:7"), for its status events.
    Column("fanout", String(32), nullable=True),
    sqlite_autoincrement=True,
)
Index("ix_messages_recipient_seq", messages.c.recipient, messages.c.seq)
Index("ix_messages_expires_at", messages.c.expires_at)
Index("ix_messages_payload_id", messages.c.payload_id)
Index("ix_messages_sender_seq", messages.c.sender, messages.c.seq)
Index("ux_messages_sender_message_id", messages.c.sender, messages.c.message_id, messages.c.recipient, unique=True)

# Payload bytes kept in the database (PostgreSQL backend: no shared disk needed). A payload is
# written chunk by chunk before its message commits; chunks whose payload row never committed
# are crash leftovers that the sweeper removes after a grace time.
payload_chunks = Table(
    "payload_chunks",
    metadata,
    Column("payload_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
)

# Used request keys (lowercase hex). Kept until the timestamp that made them valid can no
# longer pass the window check, then pruned by the sweeper.
request_keys = Table(
    "request_keys",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("expires_at", Double, nullable=False),
)
Index("ix_request_keys_expires_at", request_keys.c.expires_at)


# -- management API (/v1) -------------------------------------------------------------------

# Attachments 1..9 of a message (attachment 0 lives in the message row itself, so the route
# API's hot path reads one row). Dropped with the message; their payloads then go unreferenced.
attachments = Table(
    "attachments",
    metadata,
    Column("link", String(128), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("file_name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("md5", String(32), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("payload_id", String(64), ForeignKey("payloads.id"), nullable=False),
)
Index("ix_attachments_payload_id", attachments.c.payload_id)

# The signed receipt document, byte for byte as served at /mdn.
receipts = Table(
    "receipts",
    metadata,
    Column("link", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

# One row per failed delivery attempt (the failed list).
failures = Table(
    "failures",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True),
    Column("link", String(128), nullable=False),
    Column("attempted_at", Double, nullable=False),
    Column("status", Integer, nullable=True),  # NULL: no answer (timeout, refused connection)
    Column("error", String(1024), nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_failures_link", failures.c.link)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    # Bumped by a password change: tokens carry it, so older tokens stop working at once.
    Column("password_version", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    # Ids are never reused (tokens name the account by id): AUTOINCREMENT on SQLite.
    sqlite_autoincrement=True,
)

# A route as a station: name and comments are the station's (shared by its accounts).
stations = Table(
    "stations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(129), nullable=False, unique=True),
    Column("name", String(128), nullable=True),
    Column("comments", String(1024), nullable=True),
    Column("created_at", Double, nullable=False),
    sqlite_autoincrement=True,
)

account_stations = Table(
    "account_stations",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("station_id", Integer, ForeignKey("stations.id"), primary_key=True),
)
Index("ix_account_stations_station", account_stations.c.station_id)

# Read state is per account (markAsRead / markUnread), as the seed's "API scope".
reads = Table(
    "reads",
    metadata,
    Column("account_id", Integer, primary_key=True),
    Column("link", String(128), primary_key=True),
)
Index("ix_reads_link", reads.c.link)

partners = Table(
    "partners",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station", String(129), nullable=False),
    Column("route", String(129), nullable=False),
    Column("partner_type", String(10), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", String(1024), nullable=False),
    Column("uri", String(2048), nullable=True),
    Column("message_subject", String(255), nullable=True),
    Column("custom_headers", Text, nullable=False),  # JSON array of {headerKey, headerValue}
    Column("pause_incoming", Boolean, nullable=False),
    Column("pause_outgoing", Boolean, nullable=False),
    Column("send_timeout", Integer, nullable=False),
    Column("request_mdn", Boolean, nullable=False),
    Column("created_at", Double, nullable=False),
    # Outbound push (0004) to a partner with a uri: how, and as whom on the remote side.
    # The secrets are write-only in the API.
    Column("transport", String(10), nullable=False, server_default="federation"),
    Column("remote_route", String(129), nullable=True),
    Column("remote_secret", String(512), nullable=True),
    Column("push_secret", String(512), nullable=True),
    sqlite_autoincrement=True,  # a deleted partnerId never names another partner
)
Index("ux_partners_station_route_type", partners.c.station, partners.c.route, partners.c.partner_type, unique=True)

# Server-wide secrets made at first start and shared by every node: the token signing secret
# and the receipt signing key.
server_keys = Table(
    "server_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
)


# -- webhooks and outbound push (0004) --------------------------------------------------------

# Endpoints a station registers. event_types: comma-separated, e.g. "message.received".
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("station", String(129), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("event_types", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("description", String(256), nullable=False),
    Column("standard_webhooks", Boolean, nullable=False),
    Column("timeout", Integer, nullable=False),
    Column("secret", String(512), nullable=False),
    Column("disabled_reason", String(16), nullable=True),
    # Start of the current run of failed attempts (no 2xx since): auto-disable after a while.
    Column("failing_since", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)
Index("ix_webhooks_station", webhooks.c.station)

# An event's envelope, byte for byte as every attempt sends it.
events = Table(
    "events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("event_type", String(32), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("body", Text, nullable=False),
)

# The outbox: one row per event per endpoint (kind "webhook") or per message pushed to a
# remote partner (kind "push"), written in the transaction of its cause. Workers on every
# node claim due rows with a lease (lease_until + a token that says whose lease it is).
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("webhook_id", String(32), nullable=True),
    Column("event_id", String(32), nullable=True),
    Column("event_type", String(32), nullable=True),
    Column("link", String(128), nullable=True),
    Column("state", String(8), nullable=False),  # queued | stopped | sent
    Column("attempts", Integer, nullable=False),
    Column("next_at", Double, nullable=True),
    Column("lease_until", Double, nullable=True),
    Column("lease_token", String(32), nullable=True),
    Column("last_at", Double, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(1024), nullable=True),
    Column("stop_reason", String(64), nullable=True),
    Column("remote_link", String(128), nullable=True),
    Column("created_at", Double, nullable=False),
)
Index("ix_deliveries_due", deliveries.c.state, deliveries.c.next_at)
Index("ix_deliveries_webhook", deliveries.c.webhook_id, deliveries.c.created_at)
Index("ix_deliveries_event", deliveries.c.event_id)
Index("ix_deliveries_link", deliveries.c.link)

# One row per failed webhook attempt (the deliveries' failed list; pushes use ``failures``).
delivery_failures = Table(
    "delivery_failures",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True),
    Column("delivery_id", String(32), nullable=False),
    Column("webhook_id", String(32), nullable=False),
    Column("event_id", String(32), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", Double, nullable=False),
    Column("status", Integer, nullable=True),
    Column("error", String(1024), nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("excerpt", Text, nullable=True),
    sqlite_autoincrement=True,
)
Index("ix_delivery_failures_delivery", delivery_failures.c.delivery_id)
Index("ix_delivery_failures_webhook", delivery_failures.c.webhook_id, delivery_failures.c.attempted_at)

# -- API keys and the address book (0005) ------------------------------------------------------

# HMAC request-signing keys of an account (RCWS and Date+digest). The schemes are symmetric,
# so the private key is kept recoverable (never listed, never logged).
api_keys = Table(
    "api_keys",
    metadata,
    Column("public_key", String(32), primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("name", String(128), nullable=False),
    Column("private_key", String(512), nullable=False),
    Column("require_timestamp", Boolean, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=True),
    Column("revoked_at", Double, nullable=True),
    Column("last_used_at", Double, nullable=True),
)
Index("ix_api_keys_account", api_keys.c.account_id)

# Contact lists of an account; ids are server-wide (``list:<id>`` addresses a fan-out).
contact_lists = Table(
    "contact_lists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", Double, nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_contact_lists_account", contact_lists.c.account_id)

# A contact: the seed's fields, plus the relaybox route it reaches.
contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, nullable=False),
    Column("name", String(128), nullable=False),
    Column("first_name", String(128), nullable=False),
    Column("last_name", String(128), nullable=False),
    Column("email_address", String(254), nullable=False),
    Column("company", String(128), nullable=False),
    Column("phone", String(64), nullable=False),
    Column("address", String(256), nullable=False),
    Column("city", String(128), nullable=False),
    Column("state", String(128), nullable=False),
    Column("zip_code", String(32), nullable=False),
    Column("country", String(128), nullable=False),
    Column("dob", String(32), nullable=False),
    Column("route", String(129), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_contacts_list", contacts.c.list_id, contacts.c.id)

# The answer of a fan-out send (sender + message id), kept until the message expires: a repeated
# /1 send answers it again (idempotency), whatever the list holds by then.
fanouts = Table(
    "fanouts",
    metadata,
    Column("sender", String(129), primary_key=True),
    Column("message_id", String(128), primary_key=True),
    Column("target", String(32), nullable=False),
    Column("md5", String(32), nullable=False),
    Column("result", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
)
Index("ix_fanouts_expires_at", fanouts.c.expires_at)
