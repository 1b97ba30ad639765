"""Management API (/v1): accounts, stations, partners, attachments, read state, receipts,
failure entries, server keys; message columns for the sender's view and the sending state.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.Integer().with_variant(sa.BigInteger, "postgresql")


def upgrade() -> None:
    f = sa.false()
    for column in (
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("content_type", sa.String(255), nullable=False, server_default="application/octet-stream"),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("attachment_count", sa.Integer, nullable=False, server_default="1"),
        sa.Column("state", sa.String(8), nullable=False, server_default="sent"),
        sa.Column("sender_deleted", sa.Boolean, nullable=False, server_default=f),
        sa.Column("receiver_deleted", sa.Boolean, nullable=False, server_default=f),
        sa.Column("sender_type", sa.String(10), nullable=False, server_default="Production"),
        sa.Column("receiver_type", sa.String(10), nullable=False, server_default="Production"),
        sa.Column("receipt_requested", sa.Boolean, nullable=False, server_default=f),
        sa.Column("receipt_at", sa.Double, nullable=True),
    ):
        op.add_column("messages", column)
    op.create_index("ix_messages_sender_seq", "messages", ["sender", "seq"])
    op.create_table(
        "attachments",
        sa.Column("link", sa.String(128), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("payload_id", sa.String(64), sa.ForeignKey("payloads.id"), nullable=False),
    )
    op.create_index("ix_attachments_payload_id", "attachments", ["payload_id"])
    op.create_table(
        "receipts",
        sa.Column("link", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "failures",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("link", sa.String(128), nullable=False),
        sa.Column("attempted_at", sa.Double, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error", sa.String(1024), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_failures_link", "failures", ["link"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("password_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("route", sa.String(129), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("comments", sa.String(1024), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "account_stations",
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("station_id", sa.Integer, sa.ForeignKey("stations.id"), primary_key=True),
    )
    op.create_index("ix_account_stations_station", "account_stations", ["station_id"])
    op.create_table(
        "reads",
        sa.Column("account_id", sa.Integer, primary_key=True),
        sa.Column("link", sa.String(128), primary_key=True),
    )
    op.create_index("ix_reads_link", "reads", ["link"])
    op.create_table(
        "partners",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station", sa.String(129), nullable=False),
        sa.Column("route", sa.String(129), nullable=False),
        sa.Column("partner_type", sa.String(10), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("uri", sa.String(2048), nullable=True),
        sa.Column("message_subject", sa.String(255), nullable=True),
        sa.Column("custom_headers", sa.Text, nullable=False),
        sa.Column("pause_incoming", sa.Boolean, nullable=False),
        sa.Column("pause_outgoing", sa.Boolean, nullable=False),
        sa.Column("send_timeout", sa.Integer, nullable=False),
        sa.Column("request_mdn", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_partners_station_route_type", "partners", ["station", "route", "partner_type"], unique=True)
    op.create_table(
        "server_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "server_keys",
        "partners",
        "reads",
        "account_stations",
        "stations",
        "accounts",
        "failures",
        "receipts",
        "attachments",
    ):
        op.drop_table(table)
    op.drop_index("ix_messages_sender_seq", "messages")
    for name in (
        "receipt_at",
        "receipt_requested",
        "receiver_type",
        "sender_type",
        "receiver_deleted",
        "sender_deleted",
        "state",
        "attachment_count",
        "sha256",
        "content_type",
        "subject",
    ):
        with op.batch_alter_table("messages") as batch:
            batch.drop_column(name)
