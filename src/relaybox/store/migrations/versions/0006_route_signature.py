"""Per-route setting: refuse route-API requests without a ``request-signature`` (v2).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("routes", sa.Column("require_signature", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("require_signature")
