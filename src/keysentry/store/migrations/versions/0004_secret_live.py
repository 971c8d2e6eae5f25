"""What the optional live check learned about an exposure's secret.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exposures") as batch:
        batch.add_column(sa.Column("secret_live", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("exposures") as batch:
        batch.drop_column("secret_live")
