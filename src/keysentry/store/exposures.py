"""The operations on exposures that detection and response need.

Writing a finding is idempotent: the same credential is one exposure and the
same place is one sighting, however often they are reported; concurrent
writers are resolved by the database's unique constraints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from keysentry.detect.findings import Finding, Location
from keysentry.store.models import Exposure, Sighting, TimelineEvent
from keysentry.store.types import utcnow


def _insert_ignoring_conflicts(session: Session, model: type[Any], values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was written."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = pg_insert(model).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite_insert(model).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - other databases are not supported yet
        raise NotImplementedError(f"database dialect {dialect} is not supported")
    # RETURNING says for certain whether the row was written (rowcount is -1 on some drivers).
    return session.execute(stmt.returning(model.id)).first() is not None


def location_key(location: Location) -> str:
    p = location.provenance
    parts = [p.kind, p.repository or "", p.url or "", p.commit or "", p.path or "", str(location.line)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Recorded:
    exposure: Exposure
    created: bool
    new_sightings: int


def append_event(
    session: Session, exposure: Exposure, kind: str, actor: str = "keysentry", **detail: Any
) -> TimelineEvent:
    event = TimelineEvent(exposure_id=exposure.id, kind=kind, actor=actor, detail=detail, at=utcnow())
    session.add(event)
    session.flush()
    return event


def find_exposure(
    session: Session, credential_type: str, key_id: str, secret_fingerprint: str
) -> Exposure | None:
    return session.scalars(
        select(Exposure).where(
            Exposure.credential_type == credential_type,
            Exposure.key_id == key_id,
            Exposure.secret_fingerprint == secret_fingerprint,
        )
    ).one_or_none()


def _earliest(times: Sequence[datetime | None]) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def record_finding(session: Session, finding: Finding, initial_state: str = "new") -> Recorded:
    """Store a finding as an exposure (created once) with one sighting per new location."""
    now = utcnow()
    created = _insert_ignoring_conflicts(
        session,
        Exposure,
        {
            "credential_type": finding.credential_type,
            "rule_id": finding.rule_id,
            "key_id": finding.key_id,
            "secret_fingerprint": finding.secret_fingerprint,
            "state": initial_state,
            "state_reason": finding.suppressed,
            "attempts": 0,
            "account_id": finding.account_id,
            "detected_at": now,
            "updated_at": now,
        },
    )
    exposure = find_exposure(session, finding.credential_type, finding.key_id, finding.secret_fingerprint)
    assert exposure is not None
    if created:
        append_event(
            session,
            exposure,
            "detected",
            key_id=finding.key_id,
            rule=finding.rule_id,
            account_offline=finding.account_id,
            suppressed=finding.suppressed,
        )
    new = 0
    for location in finding.locations:
        p = location.provenance
        written = _insert_ignoring_conflicts(
            session,
            Sighting,
            {
                "exposure_id": exposure.id,
                "location_key": location_key(location),
                "source_kind": p.kind,
                "repository": p.repository,
                "url": p.url,
                "commit": p.commit,
                "path": p.path,
                "line": location.line,
                "author": p.author,
                "committed_at": p.committed_at,
                "seen_at": now,
            },
        )
        if written:
            new += 1
            append_event(
                session,
                exposure,
                "sighted",
                source=p.kind,
                where=location.describe(),
                commit=p.commit,
                author=p.author,
            )
    if new:
        session.refresh(exposure)
        first = _earliest([s.committed_at for s in exposure.sightings] + [exposure.first_seen_at])
        exposure.first_seen_at = first or exposure.detected_at
    return Recorded(exposure, created, new)


def list_exposures(session: Session, states: Sequence[str] | None = None) -> list[Exposure]:
    stmt = select(Exposure).order_by(Exposure.id)
    if states:
        stmt = stmt.where(Exposure.state.in_(states))
    return list(session.scalars(stmt))


def get_exposure(session: Session, ident: str) -> Exposure | None:
    """By numeric ID or by key ID (the newest exposure of that key)."""
    if ident.isdigit():
        return session.get(Exposure, int(ident))
    return session.scalars(
        select(Exposure).where(Exposure.key_id == ident).order_by(Exposure.id.desc()).limit(1)
    ).one_or_none()
