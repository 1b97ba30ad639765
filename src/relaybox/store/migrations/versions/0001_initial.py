"""Initial schema: routes, payloads, messages, request_keys.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("route", sa.String(129), primary_key=True),
        sa.Column("secret", sa.String(512), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "payloads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("seq", sa.Integer().with_variant(sa.BigInteger, "postgresql"), primary_key=True, autoincrement=True),
        sa.Column("link", sa.String(128), nullable=False, unique=True),
        sa.Column("recipient", sa.String(129), nullable=False),
        sa.Column("sender", sa.String(129), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("pay_for_reply", sa.Boolean, nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("received_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("payload_id", sa.String(64), sa.ForeignKey("payloads.id"), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_messages_recipient_seq", "messages", ["recipient", "seq"])
    op.create_index("ix_messages_expires_at", "messages", ["expires_at"])
    op.create_index("ix_messages_payload_id", "messages", ["payload_id"])
    op.create_index("ux_messages_sender_message_id", "messages", ["sender", "message_id", "recipient"], unique=True)
    op.create_table(
        "request_keys",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_request_keys_expires_at", "request_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("request_keys")
    op.drop_table("messages")
    op.drop_table("payloads")
    op.drop_table("routes")
