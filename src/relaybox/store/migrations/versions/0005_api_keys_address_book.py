"""API keys (RCWS and Date+digest request signing), the address book (contact lists and
contacts) and the answers of fan-out sends.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("fanout", sa.String(32), nullable=True))
    op.create_table(
        "api_keys",
        sa.Column("public_key", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("private_key", sa.String(128), nullable=False),
        sa.Column("require_timestamp", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=True),
        sa.Column("revoked_at", sa.Double, nullable=True),
        sa.Column("last_used_at", sa.Double, nullable=True),
    )
    op.create_index("ix_api_keys_account", "api_keys", ["account_id"])
    op.create_table(
        "contact_lists",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_contact_lists_account", "contact_lists", ["account_id"])
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("list_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("first_name", sa.String(128), nullable=False),
        sa.Column("last_name", sa.String(128), nullable=False),
        sa.Column("email_address", sa.String(254), nullable=False),
        sa.Column("company", sa.String(128), nullable=False),
        sa.Column("phone", sa.String(64), nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("city", sa.String(128), nullable=False),
        sa.Column("state", sa.String(128), nullable=False),
        sa.Column("zip_code", sa.String(32), nullable=False),
        sa.Column("country", sa.String(128), nullable=False),
        sa.Column("dob", sa.String(32), nullable=False),
        sa.Column("route", sa.String(129), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_contacts_list", "contacts", ["list_id", "id"])
    op.create_table(
        "fanouts",
        sa.Column("sender", sa.String(129), primary_key=True),
        sa.Column("message_id", sa.String(128), primary_key=True),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_fanouts_expires_at", "fanouts", ["expires_at"])


def downgrade() -> None:
    for table in ("fanouts", "contacts", "contact_lists", "api_keys"):
        op.drop_table(table)
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("fanout")
