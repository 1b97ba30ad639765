"""Webhooks and outbound push: endpoints, events, the delivery outbox and its failure log;
first-download and first-read marks on messages; push settings on partners; failure entries
without an HTTP status (timeouts, refused connections).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.Integer().with_variant(sa.BigInteger, "postgresql")


def upgrade() -> None:
    op.add_column("messages", sa.Column("delivered_at", sa.Double, nullable=True))
    op.add_column("messages", sa.Column("read_at", sa.Double, nullable=True))
    # Messages delivered before 0004 count as downloaded where a receipt says so; the others
    # may still emit one (late) delivered event when first fetched.
    op.execute("UPDATE messages SET delivered_at = receipt_at WHERE receipt_at IS NOT NULL")
    with op.batch_alter_table("failures", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("status", existing_type=sa.Integer, nullable=True)
    for column in (
        sa.Column("transport", sa.String(10), nullable=False, server_default="federation"),
        sa.Column("remote_route", sa.String(129), nullable=True),
        sa.Column("remote_secret", sa.String(512), nullable=True),
        sa.Column("push_secret", sa.String(512), nullable=True),
    ):
        op.add_column("partners", column)
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("station", sa.String(129), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("event_types", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("standard_webhooks", sa.Boolean, nullable=False),
        sa.Column("timeout", sa.Integer, nullable=False),
        sa.Column("secret", sa.String(512), nullable=False),
        sa.Column("disabled_reason", sa.String(16), nullable=True),
        sa.Column("failing_since", sa.Double, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_webhooks_station", "webhooks", ["station"])
    op.create_table(
        "events",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("webhook_id", sa.String(32), nullable=True),
        sa.Column("event_id", sa.String(32), nullable=True),
        sa.Column("event_type", sa.String(32), nullable=True),
        sa.Column("link", sa.String(128), nullable=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Double, nullable=True),
        sa.Column("lease_until", sa.Double, nullable=True),
        sa.Column("lease_token", sa.String(32), nullable=True),
        sa.Column("last_at", sa.Double, nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(1024), nullable=True),
        sa.Column("stop_reason", sa.String(64), nullable=True),
        sa.Column("remote_link", sa.String(128), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_at"])
    op.create_index("ix_deliveries_webhook", "deliveries", ["webhook_id", "created_at"])
    op.create_index("ix_deliveries_event", "deliveries", ["event_id"])
    op.create_index("ix_deliveries_link", "deliveries", ["link"])
    op.create_table(
        "delivery_failures",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("webhook_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("attempted_at", sa.Double, nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("error", sa.String(1024), nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("excerpt", sa.Text, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_delivery_failures_delivery", "delivery_failures", ["delivery_id"])
    op.create_index("ix_delivery_failures_webhook", "delivery_failures", ["webhook_id", "attempted_at"])


def downgrade() -> None:
    for table in ("delivery_failures", "deliveries", "events", "webhooks"):
        op.drop_table(table)
    for name in ("push_secret", "remote_secret", "remote_route", "transport"):
        with op.batch_alter_table("partners") as batch:
            batch.drop_column(name)
    with op.batch_alter_table("failures", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("status", existing_type=sa.Integer, nullable=False)
    for name in ("read_at", "delivered_at"):
        with op.batch_alter_table("messages") as batch:
            batch.drop_column(name)
