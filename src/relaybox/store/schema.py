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
    Column("status", Integer, nullable=False),
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
