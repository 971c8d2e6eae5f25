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
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from keysentry.clock import utcnow
from keysentry.detect.findings import Finding, Location
from keysentry.store.models import MAX_ID, Exposure, Sighting, TimelineEvent

# Where statements run: an ORM session, or a plain connection on the hot paths (Store.transaction).
Db = Session | Connection
EXPOSURES = cast(Table, Exposure.__table__)
SIGHTINGS = cast(Table, Sighting.__table__)
TIMELINE = cast(Table, TimelineEvent.__table__)


# Statements built once and run with parameters: SQLAlchemy then compiles each of them once, where a
# statement built per call would be keyed, looked up in the compiled cache and bound anew every time.
APPEND_EVENT = insert(TIMELINE)  # many rows at once: pass a list of dicts
_INSERT_IGNORING_CONFLICTS = {
    (dialect, table.name): build(table).on_conflict_do_nothing().returning(table.c.id)
    for dialect, build in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
    for table in (EXPOSURES, SIGHTINGS)
}

_FIND_EXPOSURE = select(EXPOSURES.c.id, EXPOSURES.c.state).where(
    EXPOSURES.c.credential_type == bindparam("type"),
    EXPOSURES.c.key_id == bindparam("key"),
    EXPOSURES.c.secret_fingerprint == bindparam("fingerprint"),
)
_FIRST_SEEN = select(EXPOSURES.c.first_seen_at, EXPOSURES.c.detected_at).where(
    EXPOSURES.c.id == bindparam("id")
)
_UPDATE_EXPOSURE = update(EXPOSURES).where(EXPOSURES.c.id == bindparam("eid"))


def dialect_of(db: Db) -> str:
    return db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name


def _insert_ignoring_conflicts(session: Db, table: Any, values: dict[str, Any]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None when it existed."""
    dialect = dialect_of(session)
    stmt = _INSERT_IGNORING_CONFLICTS.get((dialect, table.name))
    if stmt is None:  # pragma: no cover - other databases are not supported yet
        raise NotImplementedError(f"database dialect {dialect} is not supported")
    return session.execute(stmt, values).scalar_one_or_none()


def location_key(location: Location) -> str:
    p = location.provenance
    parts = [p.kind, p.repository or "", p.url or "", p.commit or "", p.path or "", str(location.line)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Recorded:
    exposure_id: int
    state: str
    created: bool
    new_sightings: int


def timeline_row(
    exposure: Exposure | int, kind: str, /, actor: str = "keysentry", **detail: Any
) -> dict[str, Any]:
    """One timeline event, to write with others in one statement (:func:`append_events`)."""
    exposure_id = exposure if isinstance(exposure, int) else exposure.id
    return {"exposure_id": exposure_id, "kind": kind, "actor": actor, "detail": detail, "at": utcnow()}


def append_event(
    session: Db, exposure: Exposure | int, kind: str, /, actor: str = "keysentry", **detail: Any
) -> None:
    """Append to the exposure's timeline (the first three are positional, so any detail name is free)."""
    session.execute(APPEND_EVENT, timeline_row(exposure, kind, actor=actor, **detail))


def append_events(session: Db, rows: list[dict[str, Any]]) -> None:
    """Append several events (:func:`timeline_row`) in one statement, in the order given."""
    if rows:
        session.execute(APPEND_EVENT, rows)


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


def record_finding(session: Db, finding: Finding, initial_state: str = "new") -> Recorded:
    """Store a finding as an exposure (created once) with one sighting per new location.

    Plain SQL statements, no ORM objects: this is the intake path, where every report is made durable
    before it is acknowledged, so it has to be cheap."""
    now = utcnow()
    exposure_id, state, created = _exposure_of(session, finding, initial_state, now)
    events = []
    if created:
        events.append(
            timeline_row(
                exposure_id,
                "detected",
                key_id=finding.key_id,
                rule=finding.rule_id,
                account_offline=finding.account_id,
                suppressed=finding.suppressed,
                live=finding.live,
            )
        )
    new, earliest = _record_sightings(session, exposure_id, finding, now, events)
    append_events(session, events)
    if new and not created:  # a known exposure seen somewhere new: perhaps earlier than we knew
        _first_seen_no_later_than(session, exposure_id, earliest)
    return Recorded(exposure_id, state, created, new)


def _exposure_of(session: Db, finding: Finding, initial_state: str, now: datetime) -> tuple[int, str, bool]:
    """The finding's exposure, created if it is new: its ID, its state, and whether it was created."""
    # First seen in public: the earliest commit time of any sighting, else when it was detected.
    committed = [loc.provenance.committed_at for loc in finding.locations if loc.provenance.committed_at]
    created_id = _insert_ignoring_conflicts(
        session,
        EXPOSURES,
        {
            "credential_type": finding.credential_type,
            "rule_id": finding.rule_id,
            "key_id": finding.key_id,
            "secret_fingerprint": finding.secret_fingerprint,
            "state": initial_state,
            "state_reason": finding.suppressed,
            "attempts": 0,
            "account_id": finding.account_id,
            "severity": finding.severity,
            "confidence": finding.confidence,
            "reopened": 0,
            "detected_at": now,
            "first_seen_at": min(committed) if committed else now,
            "secret_live": finding.live,
            "updated_at": now,
        },
    )
    if created_id is not None:
        return created_id, initial_state, True
    row = session.execute(
        _FIND_EXPOSURE,
        {"type": finding.credential_type, "key": finding.key_id, "fingerprint": finding.secret_fingerprint},
    ).one()
    if finding.live is not None:  # checked again now: the latest answer counts
        session.execute(_UPDATE_EXPOSURE, {"eid": row.id, "secret_live": finding.live})
    return row.id, row.state, False


def _record_sightings(
    session: Db, exposure_id: int, finding: Finding, now: datetime, events: list[dict[str, Any]]
) -> tuple[int, datetime | None]:
    """One sighting per place not seen before (its ``sighted`` event added to ``events``): how many were
    new, and the earliest commit time among them."""
    new = 0
    earliest: datetime | None = None
    for location in finding.locations:
        p = location.provenance
        written = _insert_ignoring_conflicts(
            session,
            SIGHTINGS,
            {
                "exposure_id": exposure_id,
                "location_key": location_key(location),
                "source_kind": p.kind,
                "repository": p.repository,
                "origin": p.origin,
                "url": p.url,
                "commit": p.commit,
                "path": p.path,
                "line": location.line,
                "author": p.author,
                "committed_at": p.committed_at,
                "decoding": location.decoding,
                "seen_at": now,
            },
        )
        if written is None:
            continue
        new += 1
        events.append(
            timeline_row(
                exposure_id,
                "sighted",
                source=p.kind,
                where=location.describe(),
                commit=p.commit,
                author=p.author,
                decoding=location.decoding,
            )
        )
        if p.committed_at is not None and (earliest is None or p.committed_at < earliest):
            earliest = p.committed_at
    return new, earliest


def _first_seen_no_later_than(session: Db, exposure_id: int, earliest: datetime | None) -> None:
    current = session.execute(_FIRST_SEEN, {"id": exposure_id}).one()
    candidates = [t for t in (current.first_seen_at, earliest) if t is not None]
    first = min(candidates) if candidates else current.detected_at
    if first != current.first_seen_at:
        session.execute(_UPDATE_EXPOSURE, {"eid": exposure_id, "first_seen_at": first})


def paired_fingerprint(db: Db, credential_type: str, key_id: str) -> str | None:
    """The secret fingerprint of the newest exposure of this key seen with its secret, if any."""
    query = (
        select(EXPOSURES.c.secret_fingerprint)
        .where(
            EXPOSURES.c.credential_type == credential_type,
            EXPOSURES.c.key_id == key_id,
            EXPOSURES.c.secret_fingerprint != "",
        )
        .order_by(EXPOSURES.c.id.desc())
        .limit(1)
    )
    found: str | None = db.execute(query).scalar()
    return found


def suspected_exposure(
    db: Db, credential_type: str, key_id: str, secret_fingerprint: str, severity: str
) -> int | None:
    """The exposure of this key seen without its secret, given the secret now: it takes the secret's
    fingerprint and becomes the full exposure (its ID), unless a full one already exists (None)."""
    if paired_fingerprint(db, credential_type, key_id) is not None:
        return None
    row = db.execute(
        _FIND_EXPOSURE, {"type": credential_type, "key": key_id, "fingerprint": ""}
    ).one_or_none()
    if row is None:
        return None
    db.execute(
        _UPDATE_EXPOSURE, {"eid": row.id, "secret_fingerprint": secret_fingerprint, "severity": severity}
    )
    return int(row.id)


def list_exposures(session: Session, states: Sequence[str] | None = None) -> list[Exposure]:
    stmt = select(Exposure).order_by(Exposure.id)
    if states:
        stmt = stmt.where(Exposure.state.in_(states))
    return list(session.scalars(stmt))


def get_exposure(session: Session, ident: str) -> Exposure | None:
    """By numeric ID or by key ID (the newest exposure of that key)."""
    if ident.isdigit():
        number = int(ident)
        return session.get(Exposure, number) if 0 < number <= MAX_ID else None
    return session.scalars(
        select(Exposure).where(Exposure.key_id == ident).order_by(Exposure.id.desc()).limit(1)
    ).one_or_none()
