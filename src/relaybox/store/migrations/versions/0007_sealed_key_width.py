"""API private keys sealed with RELAYBOX_MASTER_KEY are longer than 128 characters (a Fernet
token of a 47-character key is 147 with its prefix): PostgreSQL refused them. Widened to 512,
as every other sealed column.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("private_key", type_=sa.String(512), existing_type=sa.String(128), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("private_key", type_=sa.String(128), existing_type=sa.String(512), existing_nullable=False)
