"""The tables: exposures, their sightings and timeline, and the notification outbox.

* ``exposures``: one row per credential (type, key ID, secret fingerprint), with
  what attribution and containment learned about it and where it stands.
* ``sightings``: each place the credential was seen.
* ``timeline_events``: append-only history of an exposure; every step that
  changes the world is written here before and after it acts.  A database
  trigger refuses UPDATE and DELETE on it.
* ``outbox`` and ``delivery_attempts``: notifications waiting to go out, and each try to send one.
* ``reports``: what outside detectors reported (token hashes only); ``api_tokens``: who may use the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from keysentry.clock import utcnow
from keysentry.store.types import UTCDateTime

# The largest row ID the tables hold: their IDs are INTEGER, 32 bits on PostgreSQL.  A larger number is
# no row, and must not reach the database (PostgreSQL refuses it as an INTEGER, SQLite past 64 bits).
MAX_ID = 2**31 - 1


class Base(DeclarativeBase):
    pass


class Exposure(Base):
    __tablename__ = "exposures"
    __table_args__ = (
        UniqueConstraint("credential_type", "key_id", "secret_fingerprint", name="uq_exposure_credential"),
        Index("ix_exposures_state", "state"),
        Index("ix_exposures_account", "account_id"),
        Index("ix_exposures_detected", "detected_at"),
        Index("ix_exposures_severity", "severity"),
        Index("ix_exposures_assignee", "assignee"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credential_type: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(128), index=True)
    # SHA-256 of the secret, hex; "" when only the ID was seen.  Never the secret.
    secret_fingerprint: Mapped[str] = mapped_column(String(64), default="")

    state: Mapped[str] = mapped_column(String(32), default="new")
    state_reason: Mapped[str | None] = mapped_column(Text)
    resume_state: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    account_id: Mapped[str | None] = mapped_column(String(12))
    account_name: Mapped[str | None] = mapped_column(String(128))
    principal_type: Mapped[str | None] = mapped_column(String(32))
    principal_name: Mapped[str | None] = mapped_column(String(256))
    principal_arn: Mapped[str | None] = mapped_column(String(512))
    key_status: Mapped[str | None] = mapped_column(String(16))
    key_last_used: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What the optional live check learned while the secret was in memory: live, rejected, unknown.
    secret_live: Mapped[str | None] = mapped_column(String(16))
    containment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    severity: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[str | None] = mapped_column(String(8))  # high, medium, low (None: before 0008)
    # The response settings that applied (contain, notify_only, dry_run) and the next timed step.
    mode: Mapped[str | None] = mapped_column(String(16))
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    next_due_step: Mapped[str | None] = mapped_column(String(32))
    investigation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    # Triage: who has it, and why it was closed (revoked, rotated, false_positive, used_in_tests, wont_fix).
    assignee: Mapped[str | None] = mapped_column(String(128))
    resolution: Mapped[str | None] = mapped_column(String(32))

    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attributed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Who is running this exposure's steps, until when (keysentry.store.claims): replicas and workers
    # skip an exposure claimed by another; a claim whose holder died ends with its lease.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sightings: Mapped[list[Sighting]] = relationship(
        back_populates="exposure", order_by="Sighting.id", cascade="all"
    )
    timeline: Mapped[list[TimelineEvent]] = relationship(
        back_populates="exposure", order_by="TimelineEvent.id", viewonly=True
    )


class Sighting(Base):
    __tablename__ = "sightings"
    __table_args__ = (UniqueConstraint("exposure_id", "location_key", name="uq_sighting_location"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exposure_id: Mapped[int] = mapped_column(ForeignKey("exposures.id"), index=True)
    # SHA-256 over the fields that say where: the same place seen twice is one sighting.
    location_key: Mapped[str] = mapped_column(String(64))
    source_kind: Mapped[str] = mapped_column(String(32))
    repository: Mapped[str | None] = mapped_column(Text)  # what was scanned: a folder, or a clone URL
    origin: Mapped[str | None] = mapped_column(Text)  # a local clone's origin URL
    url: Mapped[str | None] = mapped_column(Text)
    commit: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)
    author: Mapped[str | None] = mapped_column(Text)
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decoding: Mapped[str | None] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    exposure: Mapped[Exposure] = relationship(back_populates="sightings")


class TimelineEvent(Base):
    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exposure_id: Mapped[int] = mapped_column(ForeignKey("exposures.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128), default="keysentry")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    exposure: Mapped[Exposure] = relationship(back_populates="timeline")


class OutboxMessage(Base):
    """A notification to deliver, written in the same transaction as the state change that caused it.

    ``dedup_key`` (exposure, round, kind, channel) makes it one message per exposure per event kind per
    channel, however many sightings arrive.  A dispatcher claims due rows, sends, and records each try in
    ``delivery_attempts``; a row that was sent is never sent again."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedup_key", name="uq_outbox_dedup"),
        Index("ix_outbox_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exposure_id: Mapped[int] = mapped_column(ForeignKey("exposures.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    round: Mapped[int] = mapped_column(Integer, default=0)
    dedup_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt: Mapped[str | None] = mapped_column(String(256))
    last_error: Mapped[str | None] = mapped_column(Text)


class DeliveryAttempt(Base):
    """One try to deliver an outbox message, and what the receiver answered."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    receipt: Mapped[str | None] = mapped_column(String(256))
    error: Mapped[str | None] = mapped_column(Text)


class Report(Base):
    """A report from an outside detector (GitHub's partner program …), kept once it was accepted.

    The reported token is a secret: only its SHA-256 (``token_hash``, the protocol's feedback key) is
    kept, with where it was found and the label we answered."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    channel: Mapped[str] = mapped_column(String(32))
    token_type: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(16))
    exposure_id: Mapped[int | None] = mapped_column(ForeignKey("exposures.id"))


class ApiToken(Base):
    """A token for the REST API, with a role (viewer, responder, admin).  Only its SHA-256 is kept: the
    token is shown once, when it is created."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WatchCursor(Base):
    """Where a watcher of a public source stands (an ETag, a sequence number, what it has seen), so that a
    restart neither misses what arrived meanwhile nor scans the same release twice."""

    __tablename__ = "watch_cursors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lease(Base):
    """Work that must run on one replica at a time (the response scheduler's rounds): the replica that
    holds the lease runs it, and renews it; another takes over once it has run out."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScanJob(Base):
    """One repository, folder or URL (or one part of a large history) to scan on the ``scan`` queue, with
    who is scanning it, until when, and what came of it: the record a fanned-out scan is followed by."""

    __tablename__ = "scan_jobs"
    __table_args__ = (Index("ix_scan_jobs_batch", "batch"), Index("ix_scan_jobs_state", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    history: Mapped[bool] = mapped_column(Boolean, default=True)
    max_file_size: Mapped[int] = mapped_column(BigInteger)
    shard: Mapped[int] = mapped_column(Integer, default=0)  # this part of the history's blobs ...
    shards: Mapped[int] = mapped_column(Integer, default=1)  # ... of so many
    state: Mapped[str] = mapped_column(String(20), default="queued")  # queued running done incomplete failed
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    blobs: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    exposures: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    problem: Mapped[str | None] = mapped_column(Text)  # why incomplete or failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
