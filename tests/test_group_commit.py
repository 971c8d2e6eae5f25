"""SQLite writes from many threads share commits, and each still behaves as a transaction of its own."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import event, text

from keysentry.errors import StoreError
from keysentry.store.db import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = open_store(f"sqlite:///{tmp_path}/k.db")
    with store.engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE)"))
    return store


def on_disk(store: Store) -> list[str]:
    """What another process would read: a connection of its own, outside this Store."""
    database = store.engine.url.database
    assert database is not None
    with sqlite3.connect(database) as connection:
        return [body for (body,) in connection.execute("SELECT body FROM notes ORDER BY body")]


def count_commits(store: Store) -> list[int]:
    commits = [0]

    @event.listens_for(store.engine, "commit")
    def _commit(_connection: object) -> None:
        commits[0] += 1

    return commits


def test_blocks_from_many_threads_are_each_on_disk_when_they_end_and_share_commits(store: Store) -> None:
    commits = count_commits(store)
    missing: list[str] = []

    def write(n: int) -> None:
        body = f"note-{n:04d}"
        with store.transaction() as db:
            db.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
            time.sleep(0.001)  # hold the writer a moment, as a real block does, so that others queue
        if body not in on_disk(store):  # the block has ended: it must be committed
            missing.append(body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(200)))
    assert missing == []
    assert len(on_disk(store)) == 200
    assert 0 < commits[0] < 200  # blocks queued behind each other went to disk together


def test_a_block_that_raises_is_undone_and_the_others_in_its_group_are_kept(store: Store) -> None:
    started = threading.Barrier(6)
    outcomes: dict[int, str] = {}

    def write(n: int) -> None:
        started.wait()
        try:
            with store.transaction() as db:
                db.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"kept-{n}"})
                if n % 2:
                    db.execute(text("INSERT INTO notes (body) VALUES ('undone')"))
                    raise ValueError("changed its mind")
                time.sleep(0.002)
            outcomes[n] = "committed"
        except ValueError:
            outcomes[n] = "raised"

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {n: "raised" if n % 2 else "committed" for n in range(6)}
    assert on_disk(store) == ["kept-0", "kept-2", "kept-4"]


def test_a_constraint_violation_in_one_block_leaves_the_others_alone(store: Store) -> None:
    with store.transaction() as db:
        db.execute(text("INSERT INTO notes (body) VALUES ('taken')"))
    errors: list[BaseException] = []

    def write(body: str) -> None:
        try:
            with store.transaction() as db:
                db.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
                time.sleep(0.002)
        except Exception as exc:
            errors.append(exc)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, ["a", "taken", "b", "c"]))
    assert len(errors) == 1 and "UNIQUE" in str(errors[0])
    assert on_disk(store) == ["a", "b", "c", "taken"]


def test_an_orm_session_does_not_wait_behind_an_open_group(store: Store) -> None:
    """A session is a writer with a connection of its own: it must not queue for SQLite's lock while the
    shared connection holds it (the group is committed first)."""
    done = threading.Event()

    def blocks() -> None:
        for n in range(100):
            with store.transaction() as db:
                db.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"block-{n}"})

    def sessions() -> None:
        for n in range(30):
            with store.session() as session:
                session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"session-{n}"})
        done.set()

    with ThreadPoolExecutor(2) as pool:
        # Were the session to queue for SQLite's lock, it would give up with "database is locked".
        for future in [pool.submit(blocks), pool.submit(sessions)]:
            future.result(timeout=120)
    assert done.is_set()
    assert len(on_disk(store)) == 130


def test_a_failed_commit_fails_every_block_in_the_group_and_the_store_recovers(store: Store) -> None:
    failing = [True]

    @event.listens_for(store.engine, "commit")
    def _commit(_connection: object) -> None:
        if failing[0]:
            failing[0] = False
            raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(StoreError, match="did not commit"), store.transaction() as db:
        db.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
    with store.transaction() as db:
        db.execute(text("INSERT INTO notes (body) VALUES ('next')"))
    assert on_disk(store) == ["next"]
