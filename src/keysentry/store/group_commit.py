"""SQLite's writes from this process, one at a time on one connection, committed in groups.

SQLite has one writer at a time, and each commit waits for the disk (fsync).  Threads of this process
take turns on one shared connection: each runs its block inside a savepoint of an open transaction,
and the last of a run of threads queued one behind the other commits for all of them (at most
``max_group`` blocks a commit).  A block's ``with`` ends only once the commit that holds it is on
disk, so "committed when the block ends" holds as before; a block that raises is rolled back to its
savepoint and leaves the others' work in place.  Under load, four or five blocks share a commit;
alone, a block commits at once, as a plain transaction would.

Anything else that writes (an ORM session, another connection) first calls :meth:`GroupCommit.settle`
under the lock, which commits the open group, so the shared connection never holds SQLite's write
lock while it waits.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import SQLAlchemyError

from keysentry.errors import StoreError

SAVEPOINT = "keysentry_block"


class _Ticket:
    """A block waiting for the commit that holds it."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self, engine: Engine, max_group: int = 16) -> None:
        self.engine = engine
        self.max_group = max_group
        self.lock = threading.Lock()  # held while a block runs, or a group commits
        self._queued = 0  # threads waiting for the lock: the next one commits for a block that leaves
        self._queued_lock = threading.Lock()
        self._connection: Connection | None = None
        self._transaction: RootTransaction | None = None
        self._group: list[_Ticket] = []

    def _acquire(self) -> None:
        with self._queued_lock:
            self._queued += 1
        self.lock.acquire()
        with self._queued_lock:
            self._queued -= 1

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the writer lock, with the open group committed first: for a writer of its own (an ORM
        session), which would otherwise wait for SQLite's lock held by the shared connection."""
        self._acquire()
        try:
            self.settle()
            yield
        finally:
            self.lock.release()

    @contextmanager
    def block(self) -> Iterator[Connection]:
        """A unit of work on the shared connection; returns once it is committed, raises if it is not."""
        self._acquire()
        ticket: _Ticket | None = None
        try:
            connection = self._open()
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute(f"SAVEPOINT {SAVEPOINT}")
            try:
                yield connection
            except BaseException:
                self._undo_block(driver)
                raise
            driver.execute(f"RELEASE {SAVEPOINT}")
            ticket = _Ticket()
            self._group.append(ticket)
        except BaseException:
            if ticket is None and not self._group:
                self._rollback_empty()
            self._pass_or_commit()
            raise
        self._pass_or_commit()
        ticket.done.wait()
        if ticket.error is not None:
            raise StoreError(f"the database did not commit: {ticket.error}") from ticket.error

    def settle(self) -> None:
        """Commit the open group now (the caller holds the lock)."""
        if self._transaction is not None:
            self._commit()

    def close(self) -> None:
        """Close the shared connection (the caller holds the lock, through :meth:`turn`)."""
        self._drop_connection(broken=False)

    # --- inside the lock ---------------------------------------------------------------------
    def _open(self) -> Connection:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._connection = self.engine.connect()
            self._transaction = None
        if self._transaction is None or not self._transaction.is_active:
            self._transaction = self._connection.begin()
        return self._connection

    def _undo_block(self, driver: Any) -> None:
        """Roll the failed block back to its savepoint; if SQLite has already dropped the whole
        transaction (some errors do), the group goes with it."""
        try:
            driver.execute(f"ROLLBACK TO {SAVEPOINT}")
            driver.execute(f"RELEASE {SAVEPOINT}")
        except Exception as exc:  # the transaction is gone: nobody in the group is committed
            self._fail_group(exc)

    def _pass_or_commit(self) -> None:
        """Leave the commit to the next thread in the queue, or commit now; then release the lock."""
        try:
            if not (self._queued and self._group and len(self._group) < self.max_group):
                self.settle()
        finally:
            self.lock.release()

    def _commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        try:
            assert transaction is not None
            transaction.commit()
        except BaseException as exc:
            self._drop_connection()
            self._end_group(exc)
        else:
            self._end_group(None)

    def _fail_group(self, error: BaseException) -> None:
        self._transaction = None
        self._drop_connection()
        self._end_group(error)

    def _end_group(self, error: BaseException | None) -> None:
        """Wake every block of the group: committed, or not, with ``error``."""
        group, self._group = self._group, []
        for ticket in group:
            ticket.error = error
            ticket.done.set()

    def _rollback_empty(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None and transaction.is_active:
            try:
                transaction.rollback()
            except SQLAlchemyError:
                self._drop_connection()

    def _drop_connection(self, broken: bool = True) -> None:
        """Let the shared connection go: closed, or invalidated when its transaction is in doubt."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                if broken:
                    connection.invalidate()
                else:
                    connection.close()
