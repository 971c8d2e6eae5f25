"""Response settings, timed steps, investigation, reopening; how a sighting was decoded.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keysentry.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exposures") as batch:
        batch.add_column(sa.Column("severity", sa.String(16)))
        batch.add_column(sa.Column("mode", sa.String(16)))
        batch.add_column(sa.Column("next_due_at", UTCDateTime))
        batch.add_column(sa.Column("next_due_step", sa.String(32)))
        batch.add_column(sa.Column("investigation", sa.JSON))
        batch.add_column(sa.Column("reopened", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_exposures_next_due_at", "exposures", ["next_due_at"])
    with op.batch_alter_table("sightings") as batch:
        batch.add_column(sa.Column("decoding", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("decoding")
    op.drop_index("ix_exposures_next_due_at", "exposures")
    with op.batch_alter_table("exposures") as batch:
        for column in ("reopened", "investigation", "next_due_step", "next_due_at", "mode", "severity"):
            batch.drop_column(column)
