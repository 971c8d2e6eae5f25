"""Scan jobs: what a fanned-out scan asked for, who is scanning each part, and what came of it.

A job is claimed like an exposure (:mod:`keysentry.store.claims`): one conditional ``UPDATE`` takes a
job that is queued, or running under a claim that ran out (its worker died), and counts the attempt.
The worker renews its claim while it scans and finishes the job under that claim only; a run whose
claim was taken over cannot overwrite the result of the run that took it.  What a killed worker left
``running`` is enqueued again once its claim runs out (:func:`stale_jobs`), and scanned again: the
sightings it records the second time are the same rows (one per exposure and location), so a rescan
adds none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, bindparam, or_, select, update

from keysentry.clock import utcnow
from keysentry.store.db import Store
from keysentry.store.models import ScanJob

JOBS = cast(Table, ScanJob.__table__)
QUEUED, RUNNING, DONE, INCOMPLETE, FAILED = "queued", "running", "done", "incomplete", "failed"
FINISHED = (DONE, INCOMPLETE, FAILED)


@dataclass(frozen=True)
class JobSpec:
    """What to scan: a target (a path the workers can read, or a clone URL) and which part of it."""

    target: str
    history: bool = True
    max_file_size: int = 0
    shard: int = 0
    shards: int = 1


@dataclass(frozen=True)
class JobView:
    id: int
    batch: str
    target: str
    history: bool
    max_file_size: int
    shard: int
    shards: int
    state: str
    attempts: int
    blobs: int
    bytes: int
    findings: int
    exposures: int
    skipped: int
    problem: str | None
    claimed_by: str | None
    finished_at: datetime | None

    @property
    def part(self) -> str:
        """``target``, with which part of its history when it was split."""
        return self.target if self.shards == 1 else f"{self.target} (part {self.shard + 1} of {self.shards})"


@dataclass(frozen=True)
class JobResult:
    state: str  # DONE, INCOMPLETE or FAILED
    blobs: int = 0
    bytes: int = 0
    findings: int = 0
    exposures: int = 0
    skipped: int = 0
    problem: str | None = None


def _rows(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _view(row: Any) -> JobView:
    return JobView(**{name: getattr(row, name) for name in JobView.__dataclass_fields__})


def create_batch(
    store: Store, specs: Sequence[JobSpec], now: datetime | None = None
) -> tuple[str, list[int]]:
    """Record one job per spec under a new batch ID; the batch and the jobs' IDs, in order."""
    batch, now = uuid.uuid4().hex, now or utcnow()
    ids = []
    with store.transaction() as db:
        for spec in specs:
            result = db.execute(
                JOBS.insert()
                .values(
                    batch=batch,
                    target=spec.target,
                    history=spec.history,
                    max_file_size=spec.max_file_size,
                    shard=spec.shard,
                    shards=spec.shards,
                    state=QUEUED,
                    attempts=0,
                    blobs=0,
                    bytes=0,
                    findings=0,
                    exposures=0,
                    skipped=0,
                    created_at=now,
                )
                .returning(JOBS.c.id)
            )
            ids.append(int(result.scalar_one()))
    return batch, ids


_CLAIM = (
    update(JOBS)
    .where(
        JOBS.c.id == bindparam("jid"),
        or_(
            JOBS.c.state == QUEUED,
            and_(
                JOBS.c.state == RUNNING,
                or_(JOBS.c.claimed_by == bindparam("who"), JOBS.c.claim_expires_at <= bindparam("now")),
            ),
        ),
    )
    .values(
        state=RUNNING,
        claimed_by=bindparam("who"),
        claim_expires_at=bindparam("until"),
        attempts=JOBS.c.attempts + 1,
    )
)


def claim_job(store: Store, job_id: int, owner: str, now: datetime, lease: timedelta) -> JobView | None:
    """Take the job to scan it (queued, or its last claim ran out); None when it is finished or another
    worker's claim on it is alive."""
    with store.transaction() as db:
        taken = _rows(db.execute(_CLAIM, {"jid": job_id, "who": owner, "now": now, "until": now + lease}))
        if not taken:
            return None
        return _view(db.execute(select(JOBS).where(JOBS.c.id == job_id)).one())


def renew_job(store: Store, job_id: int, owner: str, now: datetime, lease: timedelta) -> bool:
    """Keep ``owner``'s claim alive until ``now + lease``; False when it is no longer theirs."""
    with store.transaction() as db:
        result = db.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.state == RUNNING, JOBS.c.claimed_by == owner)
            .values(claim_expires_at=now + lease)
        )
        return _rows(result) == 1


def finish_job(store: Store, job_id: int, owner: str, result: JobResult, now: datetime | None = None) -> bool:
    """Record what the scan came to, if ``owner`` still holds the job; whether it did."""
    with store.transaction() as db:
        written = db.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.state == RUNNING, JOBS.c.claimed_by == owner)
            .values(
                state=result.state,
                blobs=result.blobs,
                bytes=result.bytes,
                findings=result.findings,
                exposures=result.exposures,
                skipped=result.skipped,
                problem=result.problem,
                claimed_by=None,
                claim_expires_at=None,
                finished_at=now or utcnow(),
            )
        )
        return _rows(written) == 1


def release_job(store: Store, job_id: int, owner: str) -> bool:
    """Put the job back in the queue (its scan failed for a reason a retry may not meet), if ours."""
    with store.transaction() as db:
        result = db.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.state == RUNNING, JOBS.c.claimed_by == owner)
            .values(state=QUEUED, claimed_by=None, claim_expires_at=None, enqueued_at=None)
        )
        return _rows(result) == 1


def mark_enqueued(store: Store, job_ids: Iterable[int], now: datetime) -> None:
    ids = list(job_ids)
    if ids:
        with store.transaction() as db:
            db.execute(update(JOBS).where(JOBS.c.id.in_(ids)).values(enqueued_at=now))


def stale_jobs(store: Store, now: datetime, requeue_after: timedelta, batch: str | None = None) -> list[int]:
    """Jobs whose message may be lost: queued and not enqueued for ``requeue_after``, or running under a
    claim that ran out (the worker died mid-scan) and not enqueued since (or for ``requeue_after``)."""
    query = select(JOBS.c.id).where(
        or_(
            and_(
                JOBS.c.state == QUEUED,
                or_(JOBS.c.enqueued_at.is_(None), JOBS.c.enqueued_at <= now - requeue_after),
            ),
            and_(
                JOBS.c.state == RUNNING,
                JOBS.c.claim_expires_at <= now,
                or_(
                    JOBS.c.enqueued_at.is_(None),
                    JOBS.c.enqueued_at <= JOBS.c.claim_expires_at,  # not enqueued since it ran out
                    JOBS.c.enqueued_at <= now - requeue_after,
                ),
            ),
        )
    )
    if batch is not None:
        query = query.where(JOBS.c.batch == batch)
    with store.read() as db:
        return [int(i) for i in db.execute(query.order_by(JOBS.c.id)).scalars()]


def finished_of(store: Store, batch: str) -> set[int]:
    """The IDs of the batch's finished jobs (a cheap question, for following a batch)."""
    with store.read() as db:
        query = select(JOBS.c.id).where(JOBS.c.batch == batch, JOBS.c.state.in_(FINISHED))
        return {int(i) for i in db.execute(query).scalars()}


def jobs_of(store: Store, batch: str, ids: Iterable[int] | None = None) -> list[JobView]:
    """The batch's jobs (those of ``ids`` only, if given), in the order they were recorded."""
    query = select(JOBS).where(JOBS.c.batch == batch)
    if ids is not None:
        query = query.where(JOBS.c.id.in_(list(ids)))
    with store.read() as db:
        rows = db.execute(query.order_by(JOBS.c.id)).all()
    return [_view(row) for row in rows]
