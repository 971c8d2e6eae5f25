"""A sighting's origin, and indexes for the dashboard's sorts.  The repository a report names is what
was scanned (a folder, or the URL given); a local clone's origin URL is kept beside it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.add_column(sa.Column("origin", sa.Text, nullable=True))
    # The dashboard sorts and filters by these: pages of thousands of exposures stay index reads.
    op.create_index("ix_exposures_detected", "exposures", ["detected_at"])
    op.create_index("ix_exposures_severity", "exposures", ["severity"])


def downgrade() -> None:
    op.drop_index("ix_exposures_severity", "exposures")
    op.drop_index("ix_exposures_detected", "exposures")
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("origin")
