"""Open a database, bring its schema to the latest migration, hand out sessions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from keysentry.errors import StoreError
from keysentry.store.group_commit import GroupCommit

MIGRATIONS = "keysentry.store:migrations"
READ_ONLY = "keysentry_read_only"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    return cfg


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by _sqlite_begin, not the driver
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Take SQLite's write lock when the transaction starts.  A deferred transaction that reads and
    then writes can be refused at once (SQLITE_BUSY_SNAPSHOT) when another process wrote in between;
    an immediate one waits its turn (busy_timeout) and then sees the latest data.  A transaction that
    only reads (:meth:`Store.read`) takes no lock: under WAL it runs beside the writer."""
    reading = connection.get_execution_options().get(READ_ONLY, False)
    # Straight to the driver: a statement through SQLAlchemy costs more than SQLite's own work here.
    connection.connection.driver_connection.execute("BEGIN DEFERRED" if reading else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    sqlite = parsed.get_backend_name() == "sqlite"
    # A file has no server connection to go stale: pinging it before each use only costs a query.
    # Every transaction ends in a commit or a rollback of its own, so a SQLite connection going back to
    # the pool needs no extra rollback.
    engine = create_engine(
        url, future=True, pool_pre_ping=not sqlite, pool_reset_on_return=None if sqlite else "rollback"
    )
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


__all__ = ["Session", "Store", "make_engine", "open_store"]  # Session: the type of a unit of work


class Store:
    """A database with keysentry's schema.  Use :meth:`session` for a unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # SQLite has one writer at a time.  Threads of this process queue for it here and are woken the
        # moment the one before them is done (left to SQLite they would poll, sleeping up to 100 ms a
        # try); plain transactions share one connection and commit in groups (store/group_commit.py).
        self._sqlite = engine.dialect.name == "sqlite"
        self._writes: GroupCommit | None = GroupCommit(engine) if self._sqlite else None

    def _one_at_a_time(self) -> AbstractContextManager[Any]:
        """The writer's turn, for a writer with a connection of its own (SQLite only)."""
        return self._writes.turn() if self._writes is not None else contextlib.nullcontext()

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (no-op when already there)."""
        try:
            with self.engine.begin() as connection:
                cfg = alembic_config()
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate database {self.url}: {exc}") from exc

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        with self._one_at_a_time(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction on a plain connection, for SQL statements only (no ORM objects): cheaper than
        :meth:`session`, for the hot paths.  Committed when the block ends, rolled back if it raises."""
        if self._writes is not None:
            with self._writes.block() as connection:
                yield connection
            return
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads: on SQLite it neither queues for the writer lock nor holds
        SQLite's, so polling (what is pending, what is done) does not slow the writers down."""
        with self.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                yield connection

    def dispose(self) -> None:
        if self._writes is not None:
            with self._writes.turn():
                self._writes.close()
        self.engine.dispose()


def open_store(url: str, migrate: bool = True) -> Store:
    try:
        store = Store(make_engine(url))
        if migrate:
            store.migrate()
    except StoreError:
        raise
    except (SQLAlchemyError, OSError, ValueError) as exc:
        raise StoreError(f"cannot open database {url}: {exc}") from exc
    return store
