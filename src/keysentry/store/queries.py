"""What the service, the dashboard and the CLI read: exposures by filter and page, one exposure with its
deliveries, the figures ``/metrics`` reports, and whether the database answers.  The rows come back as
the models (read inside the caller's session) or as plain tuples."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, not_, or_, select, text
from sqlalchemy.orm import Session, selectinload

from keysentry.detect.rules import SEVERITIES
from keysentry.escaping import nul_free
from keysentry.store.db import Store
from keysentry.store.models import MAX_ID, DeliveryAttempt, Exposure, OutboxMessage, Sighting, WatchCursor


@dataclass(frozen=True)
class ExposureFilter:
    state: list[str] | None = None
    account: str | None = None
    credential_type: str | None = None
    source: str | None = None  # seen in this kind of source
    since: datetime | None = None  # detected at or after
    until: datetime | None = None  # detected before
    severity: str | None = None
    search: str | None = None  # a key ID (or its start), or text in a sighting's repository or path
    not_in: tuple[str, ...] = ()  # leave these states out (the dashboard's "open": not the closed ones)
    assignee: str | None = None  # assigned to this person; "none": to nobody
    # Conditions the caller built over the exposure's columns (the outcome's: respond.outcome.outcome_is).
    where: tuple[Any, ...] = ()


UNASSIGNED = "none"  # as GitHub's API writes "no assignee"


SORTS = {  # the dashboard's orders: name -> (column, descending)
    "newest": ("id", True),
    "oldest": ("id", False),
    "detected": ("detected_at", True),
    "severity": ("severity_rank", True),
}


def outcome_condition(
    word: str, pending: tuple[str, ...], before_any_call: tuple[str, ...]
) -> ColumnElement[bool]:
    """The exposures whose outcome (``keysentry.respond.outcome``) is ``word``, read from the
    containment the response recorded and the state: released, revoked or contained when the
    containment says applied; else pending in the ``pending`` states, not acted on in the
    ``before_any_call`` states without a decision on containment, not contained otherwise."""
    applied = Exposure.containment["applied"].as_boolean()
    on = and_(applied.is_not(None), applied)
    released = Exposure.containment["released_at"].as_string().is_not(None)
    kind = Exposure.containment["kind"].as_string()
    revoked = and_(kind.is_not(None), kind == "revoked")
    waiting = Exposure.state.in_(pending)
    untouched = and_(Exposure.state.in_(before_any_call), applied.is_(None))
    conditions: dict[str, ColumnElement[bool]] = {
        "released": and_(on, released),
        "revoked": and_(on, not_(released), revoked),
        "contained": and_(on, not_(released), not_(revoked)),
        "pending": and_(not_(on), waiting),
        "not acted on": and_(not_(on), not_(waiting), untouched),
        "not contained": and_(not_(on), not_(waiting), not_(untouched)),
    }
    return conditions.get(word, false())


def _filtered(f: ExposureFilter, load_sightings: bool = True) -> Select[Exposure]:
    # A filter's text as the database can compare it: none is stored with a NUL either (nul_free), so
    # a filter with one matches nothing, as it should.
    texts: dict[str, Any] = {
        name: nul_free(value)
        for name in ("account", "credential_type", "source", "severity", "search", "assignee")
        if isinstance(value := getattr(f, name), str)
    }
    f = replace(f, **texts, state=[nul_free(s) for s in f.state] if f.state else f.state)
    stmt = select(Exposure)
    if load_sightings:
        stmt = stmt.options(selectinload(Exposure.sightings))
    if f.state:
        stmt = stmt.where(Exposure.state.in_(f.state))
    if f.not_in:
        stmt = stmt.where(Exposure.state.not_in(f.not_in))
    if f.severity:
        stmt = stmt.where(Exposure.severity == f.severity)
    if f.search:
        term = f.search.strip()
        stmt = stmt.where(
            or_(
                Exposure.key_id.startswith(term, autoescape=True),
                Exposure.sightings.any(
                    or_(
                        Sighting.repository.contains(term, autoescape=True),
                        Sighting.path.contains(term, autoescape=True),
                    )
                ),
            )
        )
    if f.account:
        stmt = stmt.where(Exposure.account_id == f.account)
    if f.credential_type:
        stmt = stmt.where(Exposure.credential_type == f.credential_type)
    if f.source:
        stmt = stmt.where(Exposure.sightings.any(Sighting.source_kind == f.source))
    if f.assignee:
        stmt = stmt.where(
            Exposure.assignee.is_(None) if f.assignee == UNASSIGNED else Exposure.assignee == f.assignee
        )
    for condition in f.where:
        stmt = stmt.where(condition)
    if f.since:
        stmt = stmt.where(Exposure.detected_at >= f.since)
    if f.until:
        stmt = stmt.where(Exposure.detected_at < f.until)
    return stmt


def page_exposures(session: Session, f: ExposureFilter, limit: int, before: int | None) -> list[Exposure]:
    """Newest first, at most ``limit`` + 1 (one more says there is a next page), below ID ``before``."""
    stmt = _filtered(f).order_by(Exposure.id.desc()).limit(limit + 1)
    if before is not None:
        stmt = stmt.where(Exposure.id < before)
    return list(session.scalars(stmt))


def count_exposures(session: Session, f: ExposureFilter) -> int:
    return int(session.scalar(select(func.count()).select_from(_filtered(f, False).subquery())) or 0)


# the worst highest; an exposure without a severity sorts as medium
_SEVERITY_RANK = case(
    {word: len(SEVERITIES) - n for n, word in enumerate(SEVERITIES)}, value=Exposure.severity, else_=2
)


def sorted_exposures(
    session: Session, f: ExposureFilter, sort: str, limit: int, offset: int
) -> list[Exposure]:
    """A page of the exposures that match, in the order ``sort`` names (see ``SORTS``)."""
    column, descending = SORTS.get(sort, SORTS["newest"])
    key = _SEVERITY_RANK if column == "severity_rank" else getattr(Exposure, column)
    order = [key.desc() if descending else key.asc(), Exposure.id.desc()]
    return list(session.scalars(_filtered(f).order_by(*order).limit(limit).offset(offset)))


@dataclass(frozen=True)
class Timing:
    """What the latency figures need of one exposure (read without its rows' other columns)."""

    detected_at: datetime
    first_seen_at: datetime | None
    contained_at: datetime | None
    notified_at: datetime | None
    source: str | None


def timings(session: Session, f: ExposureFilter) -> list[Timing]:
    """For the figures over many exposures: their times and first source, in one light query."""
    first_source = (
        select(Sighting.source_kind)
        .where(Sighting.exposure_id == Exposure.id)
        .order_by(Sighting.id)
        .limit(1)
        .scalar_subquery()
    )
    ids = _filtered(f, False).with_only_columns(Exposure.id).subquery()
    rows = session.execute(
        select(
            Exposure.detected_at,
            Exposure.first_seen_at,
            Exposure.contained_at,
            Exposure.notified_at,
            first_source,
        ).where(Exposure.id.in_(select(ids.c.id)))
    )
    return [Timing(*row) for row in rows]


def assignees(session: Session) -> list[str]:
    """Everyone an exposure is assigned to now, by name (the dashboard's filter offers them)."""
    query = select(Exposure.assignee).where(Exposure.assignee.is_not(None)).distinct()
    return sorted(str(a) for a in session.scalars(query))


def each_exposure(session: Session, f: ExposureFilter = ExposureFilter()) -> Iterator[Exposure]:
    """Every exposure that matches, oldest first, with its sightings."""
    yield from session.scalars(_filtered(f).order_by(Exposure.id))


def exposure_by_id(session: Session, exposure_id: int) -> Exposure | None:
    """None for a number no row can have (past a 64-bit integer), as for one that has no row."""
    return session.get(Exposure, exposure_id) if 0 < exposure_id <= MAX_ID else None


def key_ids(session: Session, exposure_ids: list[int]) -> dict[int, str]:
    rows = session.execute(select(Exposure.id, Exposure.key_id).where(Exposure.id.in_(exposure_ids)))
    return {row.id: row.key_id for row in rows}


def deliveries_of(
    session: Session, exposure_id: int
) -> tuple[list[OutboxMessage], dict[int, list[DeliveryAttempt]]]:
    """The exposure's messages, and every attempt of each (by message ID)."""
    messages = list(session.scalars(select(OutboxMessage).where(OutboxMessage.exposure_id == exposure_id)))
    attempts: dict[int, list[DeliveryAttempt]] = {}
    if messages:
        for a in session.scalars(
            select(DeliveryAttempt).where(DeliveryAttempt.message_id.in_([m.id for m in messages]))
        ):
            attempts.setdefault(a.message_id, []).append(a)
    return messages, attempts


def messages_on(session: Session, channel: str) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.channel == channel)))


@dataclass(frozen=True)
class Figures:
    """What ``/metrics`` reports, read in one transaction."""

    states: list[tuple[str, int]]
    times: list[tuple[datetime, datetime | None, datetime | None]]  # detected, contained, notified
    outbox: list[tuple[str, str, int]]  # channel, state, messages
    failed: list[tuple[str, int]]  # channel, failed attempts
    cursors: list[tuple[str, dict[str, Any] | None, datetime]]  # watcher, state, updated


def figures(store: Store) -> Figures:
    with store.read() as db:
        states = db.execute(select(Exposure.state, func.count()).group_by(Exposure.state)).all()
        times = db.execute(
            select(Exposure.detected_at, Exposure.contained_at, Exposure.notified_at).where(
                Exposure.contained_at.is_not(None) | Exposure.notified_at.is_not(None)
            )
        ).all()
        outbox = db.execute(
            select(OutboxMessage.channel, OutboxMessage.state, func.count()).group_by(
                OutboxMessage.channel, OutboxMessage.state
            )
        ).all()
        failed = db.execute(
            select(OutboxMessage.channel, func.count())
            .join(DeliveryAttempt, DeliveryAttempt.message_id == OutboxMessage.id)
            .where(DeliveryAttempt.ok.is_(False))
            .group_by(OutboxMessage.channel)
        ).all()
        cursors = db.execute(select(WatchCursor.name, WatchCursor.state, WatchCursor.updated_at)).all()
    return Figures(
        [tuple(r) for r in states],  # type: ignore[misc]
        [tuple(r) for r in times],  # type: ignore[misc]
        [tuple(r) for r in outbox],  # type: ignore[misc]
        [tuple(r) for r in failed],  # type: ignore[misc]
        [tuple(r) for r in cursors],
    )


def ping(store: Store) -> None:
    """Raise unless the database answers (and takes a write transaction)."""
    with store.transaction() as db:
        db.execute(text("SELECT 1"))
