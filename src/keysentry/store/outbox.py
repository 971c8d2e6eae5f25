"""The outbox's statements: messages queued in the caller's transaction, claimed under a lease, and each
dispatch round's attempts, states and timeline entries written together."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keysentry.store.db import Store
from keysentry.store.exposures import APPEND_EVENT, Db, dialect_of, timeline_row
from keysentry.store.models import DeliveryAttempt, OutboxMessage

OUTBOX = cast(Table, OutboxMessage.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)
PENDING, SENT, DEAD = "pending", "sent", "dead"

# Every channel's message in one statement; those already queued (the same dedup key) are skipped, and
# the channels written come back.
_QUEUE = {
    dialect: build(OUTBOX).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(OUTBOX.c.channel)
    for dialect, build in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_RECORD_ATTEMPT = insert(ATTEMPTS)
_UPDATE = update(OUTBOX).where(OUTBOX.c.id == bindparam("mid"))


def dedup_key(exposure_id: int, round_: int, kind: str, channel: str) -> str:
    return f"{exposure_id}:{round_}:{kind}:{channel}"


def queue_messages(
    db: Db, exposure_id: int, round_: int, kind: str, payloads: dict[str, Any], now: datetime
) -> set[str]:
    """One pending message per channel (``payloads`` by channel name), in the caller's transaction;
    the channels written (a message already queued with the same dedup key is not queued again)."""
    messages = [
        {
            "exposure_id": exposure_id,
            "channel": name,
            "kind": kind,
            "round": round_,
            "dedup_key": dedup_key(exposure_id, round_, kind, name),
            "payload": payload,
            "state": PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for name, payload in payloads.items()
    ]
    if not messages:
        return set()
    return set(db.execute(_QUEUE[dialect_of(db)], messages).scalars())


def claim_due(store: Store, now: datetime, lease: timedelta, limit: int) -> list[dict[str, Any]]:
    """Take the messages due by ``now`` until ``now + lease`` (their attempt is counted now); other
    dispatchers skip them meanwhile (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""
    with store.transaction() as db:
        query = (
            select(OUTBOX)
            .where(OUTBOX.c.state == PENDING, OUTBOX.c.next_attempt_at <= now)
            .order_by(OUTBOX.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = [dict(r) for r in db.execute(query).mappings()]
        if rows:
            db.execute(
                _UPDATE,
                [
                    {"mid": r["id"], "attempts": r["attempts"] + 1, "next_attempt_at": now + lease}
                    for r in rows
                ],
            )
        for r in rows:
            r["attempts"] += 1
        return rows


def waiting(store: Store) -> tuple[int, datetime | None]:
    """Messages still to send, and when the next of them is due."""
    with store.read() as db:
        rows = list(db.execute(select(OUTBOX.c.next_attempt_at).where(OUTBOX.c.state == PENDING)).scalars())
    return len(rows), min(rows) if rows else None


class RoundWrites:
    """A dispatch round's rows, written together by :meth:`flush`."""

    def __init__(self) -> None:
        self.attempts: list[dict[str, Any]] = []
        self.updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        self.events: list[dict[str, Any]] = []

    def attempt(
        self, message_id: int, at: datetime, ok: bool, receipt: str | None, error: str | None
    ) -> None:
        self.attempts.append(
            {"message_id": message_id, "at": at, "ok": ok, "receipt": receipt, "error": error}
        )

    def update(self, message_id: int, **values: Any) -> None:
        self.updates[tuple(sorted(values))].append({"mid": message_id, **values})

    def event(self, exposure_id: int, kind: str, at: datetime, **detail: Any) -> None:
        self.events.append({**timeline_row(exposure_id, kind, **detail), "at": at})

    def flush(self, db: Db) -> None:
        if self.attempts:
            db.execute(_RECORD_ATTEMPT, self.attempts)
        for rows in self.updates.values():
            db.execute(_UPDATE, rows)
        if self.events:
            db.execute(APPEND_EVENT, self.events)
