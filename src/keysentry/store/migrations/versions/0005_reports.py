"""Reports from outside detectors (token hashes only).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keysentry.store.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("token_type", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("source", sa.String(64)),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("exposure_id", sa.Integer, sa.ForeignKey("exposures.id")),
    )
    op.create_index("ix_reports_token_hash", "reports", ["token_hash"])


def downgrade() -> None:
    op.drop_index("ix_reports_token_hash", "reports")
    op.drop_table("reports")
