"""Triage: who an exposure is assigned to, and why it was closed (its resolution).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exposures") as batch:
        batch.add_column(sa.Column("assignee", sa.String(128), nullable=True))
        batch.add_column(sa.Column("resolution", sa.String(32), nullable=True))
    op.create_index("ix_exposures_assignee", "exposures", ["assignee"])


def downgrade() -> None:
    op.drop_index("ix_exposures_assignee", "exposures")
    with op.batch_alter_table("exposures") as batch:
        batch.drop_column("resolution")
        batch.drop_column("assignee")
