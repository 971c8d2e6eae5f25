"""Exposures, sightings and the append-only timeline.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keysentry.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_MESSAGE = "timeline_events is append-only"


def upgrade() -> None:
    op.create_table(
        "exposures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("credential_type", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("secret_fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("state_reason", sa.Text),
        sa.Column("resume_state", sa.String(32)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("account_id", sa.String(12)),
        sa.Column("account_name", sa.String(128)),
        sa.Column("principal_type", sa.String(32)),
        sa.Column("principal_name", sa.String(256)),
        sa.Column("principal_arn", sa.String(512)),
        sa.Column("key_status", sa.String(16)),
        sa.Column("key_last_used", sa.JSON),
        sa.Column("containment", sa.JSON),
        sa.Column("first_seen_at", UTCDateTime),
        sa.Column("detected_at", UTCDateTime, nullable=False),
        sa.Column("attributed_at", UTCDateTime),
        sa.Column("contained_at", UTCDateTime),
        sa.Column("notified_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("credential_type", "key_id", "secret_fingerprint", name="uq_exposure_credential"),
    )
    op.create_index("ix_exposures_state", "exposures", ["state"])
    op.create_index("ix_exposures_account", "exposures", ["account_id"])
    op.create_index("ix_exposures_key_id", "exposures", ["key_id"])

    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("exposure_id", sa.Integer, sa.ForeignKey("exposures.id"), nullable=False),
        sa.Column("location_key", sa.String(64), nullable=False),
        sa.Column("source_kind", sa.String(32), nullable=False),
        sa.Column("repository", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("commit", sa.String(64)),
        sa.Column("path", sa.Text),
        sa.Column("line", sa.Integer),
        sa.Column("author", sa.Text),
        sa.Column("committed_at", UTCDateTime),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("exposure_id", "location_key", name="uq_sighting_location"),
    )
    op.create_index("ix_sightings_exposure_id", "sightings", ["exposure_id"])

    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("exposure_id", sa.Integer, sa.ForeignKey("exposures.id"), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_timeline_events_exposure_id", "timeline_events", ["exposure_id"])

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER timeline_events_no_{event.lower()} BEFORE {event} ON timeline_events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION timeline_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER timeline_events_append_only BEFORE UPDATE OR DELETE ON timeline_events "
            "FOR EACH ROW EXECUTE FUNCTION timeline_events_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS timeline_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS timeline_events_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS timeline_events_append_only ON timeline_events")
        op.execute("DROP FUNCTION IF EXISTS timeline_events_append_only()")
    op.drop_table("timeline_events")
    op.drop_table("sightings")
    op.drop_table("exposures")
