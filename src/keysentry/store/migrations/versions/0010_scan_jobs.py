"""Scan jobs: repositories (or parts of a large history) fanned out over the ``scan`` queue, each claimed
by the worker scanning it, so that a worker's death leaves the job to be scanned again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keysentry.store.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch", sa.String(64), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("history", sa.Boolean, nullable=False),
        sa.Column("max_file_size", sa.BigInteger, nullable=False),
        sa.Column("shard", sa.Integer, nullable=False),
        sa.Column("shards", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claim_expires_at", UTCDateTime, nullable=True),
        sa.Column("enqueued_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("blobs", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("exposures", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("problem", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_scan_jobs_batch", "scan_jobs", ["batch"])
    op.create_index("ix_scan_jobs_state", "scan_jobs", ["state"])


def downgrade() -> None:
    op.drop_table("scan_jobs")
