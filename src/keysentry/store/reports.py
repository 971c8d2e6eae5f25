"""Reports from outside detectors, kept by hash only (what was reported, by whom, and what it held)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from keysentry.store.db import Store
from keysentry.store.models import Report


def keep_reports(store: Store, rows: list[dict[str, Any]]) -> None:
    """Commit the reports (``Report`` columns); returns once they are durable."""
    if rows:
        with store.transaction() as db:
            db.execute(insert(Report), rows)
