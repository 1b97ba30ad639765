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
    sqlite_autoincrement=True,
)
Index("ix_messages_recipient_seq", messages.c.recipient, messages.c.seq)
Index("ix_messages_expires_at", messages.c.expires_at)
Index("ix_messages_payload_id", messages.c.payload_id)
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
