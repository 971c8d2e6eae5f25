"""Storage: SQLAlchemy models, Alembic migrations, and the few operations the rest of keysentry needs.

SQLite file by default; any SQLAlchemy URL (PostgreSQL in production) through
``KEYSENTRY_DATABASE_URL``.  Nothing connects at import time.
"""

from keysentry.store.db import Store, open_store
from keysentry.store.models import Exposure, Sighting, TimelineEvent

__all__ = ["Exposure", "Sighting", "Store", "TimelineEvent", "open_store"]
