"""Where each watcher stands, kept in the store: read at the start of a poll, written once the poll's
findings are recorded, so that a crash between the two scans the same content again rather than
missing it (a credential seen twice is one exposure with two sightings)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from keysentry.clock import utcnow
from keysentry.store.db import Store
from keysentry.store.models import WatchCursor

CURSORS = cast(Table, WatchCursor.__table__)


class Cursors:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> dict[str, Any]:
        with self.store.transaction() as db:
            state = db.execute(select(CURSORS.c.state).where(CURSORS.c.name == name)).scalar()
        return dict(state or {})

    def put(self, name: str, state: dict[str, Any]) -> None:
        with self.store.transaction() as db:
            changed = db.execute(
                update(CURSORS).where(CURSORS.c.name == name).values(state=state, updated_at=utcnow())
            ).rowcount
            if not changed:
                dialect = postgresql if db.dialect.name == "postgresql" else sqlite
                db.execute(
                    dialect.insert(CURSORS)
                    .values(name=name, state=state, updated_at=utcnow())
                    .on_conflict_do_update(index_elements=["name"], set_={"state": state})
                )
