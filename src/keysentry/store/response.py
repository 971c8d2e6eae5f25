"""The response's statements: what the responder reads and writes of an exposure, as typed functions.

Each runs in the caller's transaction (``Store.transaction()``), so that a step's outcome, its timeline
entries and the announcement it queues are committed together.  Plain Core statements, built once:
this is the hot path.  The rules (which state may follow which, when a step is due) are the
responder's; this module only knows the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, or_, select, update

from keysentry.clock import utcnow
from keysentry.store.exposures import APPEND_EVENT, EXPOSURES, SIGHTINGS, TIMELINE, Db, append_event
from keysentry.store.models import MAX_ID

_LOAD = select(EXPOSURES).where(EXPOSURES.c.id == bindparam("eid"))
_UPDATE = update(EXPOSURES).where(EXPOSURES.c.id == bindparam("eid"))
_UPDATE_UNCHANGED = _UPDATE.where(EXPOSURES.c.updated_at == bindparam("seen"))
_NEXT_DUE = select(EXPOSURES.c.next_due_at).where(EXPOSURES.c.id == bindparam("eid"))
_SIGHTINGS_OF = select(SIGHTINGS).where(SIGHTINGS.c.exposure_id == bindparam("eid")).order_by(SIGHTINGS.c.id)
_STATES_OF = select(EXPOSURES.c.id, EXPOSURES.c.state, EXPOSURES.c.reopened).where(
    EXPOSURES.c.id.in_(bindparam("ids", expanding=True))
)
# What a reopened exposure forgets: it is answered again from the start.
_FORGOTTEN_ON_REOPEN = {
    "resume_state": None,
    "containment": None,
    "contained_at": None,
    "notified_at": None,
    "next_due_at": None,
    "next_due_step": None,
    "resolution": None,  # (who it is assigned to stays)
}


def load_exposure(db: Db, exposure_id: int) -> dict[str, Any] | None:
    """The exposure's row, as a plain dict; None if there is none."""
    if not 0 < exposure_id <= MAX_ID:
        return None
    row = db.execute(_LOAD, {"eid": exposure_id}).mappings().one_or_none()
    return dict(row) if row is not None else None


def sightings_of(db: Db, exposure_id: int) -> list[dict[str, Any]]:
    return [dict(s) for s in db.execute(_SIGHTINGS_OF, {"eid": exposure_id}).mappings()]


def update_exposure(
    db: Db, exposure_id: int, changes: Mapping[str, Any], seen: datetime | None = None
) -> bool:
    """Write ``changes`` to the exposure.  With ``seen`` (the ``updated_at`` it was read with), only if
    nobody has written to it since: False, and nothing written, when somebody has."""
    if seen is None:
        db.execute(_UPDATE, {"eid": exposure_id, **changes})
        return True
    result = cast(
        CursorResult[Any], db.execute(_UPDATE_UNCHANGED, {"eid": exposure_id, "seen": seen, **changes})
    )
    return result.rowcount == 1


def last_event_kind(db: Db, exposure_id: int) -> str | None:
    """The kind of the exposure's latest timeline event."""
    query = (
        select(TIMELINE.c.kind)
        .where(TIMELINE.c.exposure_id == exposure_id)
        .order_by(TIMELINE.c.id.desc())
        .limit(1)
    )
    kind: str | None = db.execute(query).scalar()
    return kind


def next_due_at(db: Db, exposure_id: int) -> datetime | None:
    """When the exposure's next timed step is due (None: none is)."""
    due: datetime | None = db.execute(_NEXT_DUE, {"eid": exposure_id}).scalar()
    return due


def reopen(db: Db, exposure_id: int, actor: str, reason: str, state: str) -> None:
    """Start the exposure's response over in ``state``: a new round, recorded with who and why."""
    row = load_exposure(db, exposure_id)
    assert row is not None
    append_event(
        db,
        exposure_id,
        "reopened",
        actor=actor,
        reason=reason,
        was=row["state"],
        previous_containment=row["containment"],
    )
    changes = {
        **_FORGOTTEN_ON_REOPEN,
        "state": state,
        "reopened": (row["reopened"] or 0) + 1,
        "state_reason": reason,
        "updated_at": utcnow(),
    }
    update_exposure(db, exposure_id, changes)


def pending_exposures(
    db: Db,
    with_steps: Iterable[str],
    failed: str,
    now: datetime,
    backoff: bool,
    claimed_by: Callable[[str], bool] = lambda _holder: False,
) -> list[int]:
    """Exposures in a state with a step (``with_steps``), failed (they resume), or with a timed step
    due by ``now``, that nobody has claimed (:mod:`keysentry.store.claims`), or whose holder
    ``claimed_by`` accepts (a dead process's).  With ``backoff``, a failed exposure only once its retry
    is due."""
    is_failed = EXPOSURES.c.state == failed
    has_step: Any = EXPOSURES.c.state.in_(list(with_steps))
    if backoff:  # a failed or deferred step is due like a timed step, below
        is_failed = is_failed & EXPOSURES.c.next_due_at.is_(None)
        has_step = has_step & EXPOSURES.c.next_due_at.is_(None)
    query = (
        select(EXPOSURES.c.id, EXPOSURES.c.claimed_by, EXPOSURES.c.claim_expires_at)
        .where(or_(has_step, is_failed, EXPOSURES.c.next_due_at <= now))
        .order_by(EXPOSURES.c.id)
    )
    return [
        row.id
        for row in db.execute(query)
        if row.claimed_by is None or row.claim_expires_at <= now or claimed_by(row.claimed_by)
    ]


def states_of(db: Db, exposure_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """Each exposure's state and round (how often it was reopened)."""
    rows = db.execute(_STATES_OF, {"ids": sorted(set(exposure_ids))})
    return {row.id: (row.state, row.reopened or 0) for row in rows}


def write_states(db: Db, changes: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    """Several exposures' changes (each a dict with ``eid``, all with the same keys) and their timeline
    entries, in two statements."""
    if changes:
        db.execute(_UPDATE, changes)
    if events:
        db.execute(APPEND_EVENT, events)
