"""Claims and leases: who is working on what, until when, written in the store so that any number of
service replicas and workers can share the work without doing it twice.

* An **exposure claim** (``exposures.claimed_by`` / ``claim_expires_at``) is taken before a run of the
  exposure's steps and released after it.  A claim is one conditional ``UPDATE`` (free, ours, or its
  lease ended), which the database serializes: on PostgreSQL the second of two concurrent claims waits
  for the first's row lock and then finds the row taken; SQLite runs one writer at a time.  A holder
  that dies keeps its claim only until the lease ends.  Taking a claim does not touch ``updated_at``,
  which the steps use to notice other writers.
* A **lease** (table ``leases``) names work that one replica does for all (the response scheduler's
  round): the replica that holds it runs the work and renews it; when it stops renewing, another takes
  it once it has run out.

The outbox's messages are leased the same way, by the ``next_attempt_at`` their claim moves forward
(:func:`keysentry.store.outbox.claim_due`): a claim is a row, a holder and an expiry in each case.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keysentry.store.db import Store
from keysentry.store.exposures import EXPOSURES, dialect_of
from keysentry.store.models import Lease

LEASES = cast(Table, Lease.__table__)


def _free_or(table_owner: Any, table_expiry: Any) -> Any:
    """Free, already the caller's, or its lease has ended."""
    return or_(table_owner.is_(None), table_owner == bindparam("who"), table_expiry <= bindparam("now"))


_CLAIM = (
    update(EXPOSURES)
    .where(EXPOSURES.c.id == bindparam("eid"), _free_or(EXPOSURES.c.claimed_by, EXPOSURES.c.claim_expires_at))
    .values(
        claimed_by=bindparam("who"),
        claim_expires_at=bindparam("until"),
        updated_at=EXPOSURES.c.updated_at,  # a claim is not a change of the exposure
    )
)
_RENEW = (
    update(EXPOSURES)
    .where(EXPOSURES.c.id == bindparam("eid"), EXPOSURES.c.claimed_by == bindparam("who"))
    .values(claim_expires_at=bindparam("until"), updated_at=EXPOSURES.c.updated_at)
)
_RELEASE = (
    update(EXPOSURES)
    .where(EXPOSURES.c.id == bindparam("eid"), EXPOSURES.c.claimed_by == bindparam("who"))
    .values(claimed_by=None, claim_expires_at=None, updated_at=EXPOSURES.c.updated_at)
)
_TAKE_LEASE = (
    update(LEASES)
    .where(LEASES.c.name == bindparam("lease"), _free_or(LEASES.c.owner, LEASES.c.expires_at))
    .values(owner=bindparam("who"), expires_at=bindparam("until"))
)
_NEW_LEASE = {
    dialect: build(LEASES).on_conflict_do_nothing(index_elements=["name"]).returning(LEASES.c.name)
    for dialect, build in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def _rows(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def claim_exposure(store: Store, exposure_id: int, owner: str, now: datetime, lease: timedelta) -> bool:
    """Take (or extend) the claim on an exposure until ``now + lease``; False when another holds it."""
    with store.transaction() as db:
        result = db.execute(_CLAIM, {"eid": exposure_id, "who": owner, "now": now, "until": now + lease})
        return _rows(result) == 1


def take_over_exposure(
    store: Store, exposure_id: int, holder: str, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Take the claim from ``holder`` (a run known to be dead) for ``owner``, if it is still ``holder``'s."""
    with store.transaction() as db:
        result = db.execute(
            update(EXPOSURES)
            .where(EXPOSURES.c.id == exposure_id, EXPOSURES.c.claimed_by == holder)
            .values(claimed_by=owner, claim_expires_at=now + lease, updated_at=EXPOSURES.c.updated_at)
        )
        return _rows(result) == 1


def holder_of(store: Store, exposure_id: int) -> str | None:
    """Who holds the exposure's claim (even one that ran out), or None."""
    with store.read() as db:
        holder: str | None = db.execute(
            select(EXPOSURES.c.claimed_by).where(EXPOSURES.c.id == exposure_id)
        ).scalar()
    return holder


def renew_exposure(store: Store, exposure_id: int, owner: str, now: datetime, lease: timedelta) -> bool:
    """Extend ``owner``'s claim until ``now + lease``; False (and nothing written) when it is no longer
    theirs: released, or taken over by another run after it ran out.  Never takes a free claim."""
    with store.transaction() as db:
        result = db.execute(_RENEW, {"eid": exposure_id, "who": owner, "until": now + lease})
        return _rows(result) == 1


def release_exposure(store: Store, exposure_id: int, owner: str) -> bool:
    """Give the claim up (only if it is still ``owner``'s); whether it was."""
    with store.transaction() as db:
        return _rows(db.execute(_RELEASE, {"eid": exposure_id, "who": owner})) == 1


def claimed(store: Store, now: datetime) -> dict[int, str]:
    """Exposures whose claim has not run out, and who holds each."""
    with store.read() as db:
        query = select(EXPOSURES.c.id, EXPOSURES.c.claimed_by).where(
            and_(EXPOSURES.c.claimed_by.is_not(None), EXPOSURES.c.claim_expires_at > now)
        )
        return {row.id: row.claimed_by for row in db.execute(query)}


def take_lease(store: Store, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Hold the lease ``name`` until ``now + ttl`` (taken if free or run out, renewed if ours)."""
    with store.transaction() as db:
        taken = (
            _rows(db.execute(_TAKE_LEASE, {"lease": name, "who": owner, "now": now, "until": now + ttl})) == 1
        )
        if taken:
            return True
        inserted = db.execute(_NEW_LEASE[dialect_of(db)].values(name=name, owner=owner, expires_at=now + ttl))
        return inserted.first() is not None  # (an INSERT's rowcount is not reliable on every driver)


def drop_lease(store: Store, name: str, owner: str) -> None:
    """Give the lease up at once (a replica that stops), if it is ``owner``'s."""
    with store.transaction() as db:
        db.execute(LEASES.delete().where(LEASES.c.name == name, LEASES.c.owner == owner))


def lease_holder(store: Store, name: str, now: datetime) -> str | None:
    """Who holds the lease now (None: nobody, or it ran out)."""
    with store.read() as db:
        row = db.execute(select(LEASES.c.owner, LEASES.c.expires_at).where(LEASES.c.name == name)).first()
    return row.owner if row is not None and row.expires_at > now else None


def lease_expiry(store: Store, name: str) -> datetime | None:
    """When the lease ``name`` runs out (or ran out); None when there is none."""
    with store.read() as db:
        expiry: datetime | None = db.execute(
            select(LEASES.c.expires_at).where(LEASES.c.name == name)
        ).scalar()
    return expiry
