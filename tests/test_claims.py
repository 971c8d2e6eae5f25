"""Claims and leases in the store: one holder at a time, however many processes ask at once; a holder
that stops renewing loses them when the lease ends."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest

from keysentry.clock import utcnow
from keysentry.detect.findings import Finding
from keysentry.respond.claims import ClaimKeeper, dead_here
from keysentry.store import open_store
from keysentry.store.claims import (
    claim_exposure,
    claimed,
    drop_lease,
    lease_holder,
    release_exposure,
    renew_exposure,
    take_lease,
)
from keysentry.store.exposures import record_finding
from keysentry.store.response import load_exposure, pending_exposures

MINUTE = timedelta(minutes=1)


def _one_exposure(url: str) -> int:
    store = open_store(url)
    finding = Finding(
        rule_id="aws-access-key",
        credential_type="aws_access_key",
        key_id="AKIAZZZZZZZZZZZZZZZZ",
        secret_fingerprint="0" * 64,
        account_id=None,
    )
    with store.transaction() as db:
        exposure_id = record_finding(db, finding).exposure_id
    store.dispose()
    return exposure_id


def test_one_holder_at_a_time_until_the_lease_ends(database_url: str) -> None:
    exposure_id = _one_exposure(database_url)
    store = open_store(database_url)
    now = utcnow()
    assert claim_exposure(store, exposure_id, "replica-a/1", now, MINUTE)
    assert not claim_exposure(store, exposure_id, "replica-b/1", now, MINUTE)
    assert claimed(store, now) == {exposure_id: "replica-a/1"}
    # A claimed exposure is not pending for the others; it is again once the claim ends.
    assert pending_exposures_now(store, now) == []
    assert claim_exposure(store, exposure_id, "replica-a/1", now, MINUTE)  # renewed by its holder
    later = now + MINUTE + timedelta(seconds=1)  # replica-a died: nobody renewed
    assert pending_exposures_now(store, later) == [exposure_id]
    assert claim_exposure(store, exposure_id, "replica-b/1", later, MINUTE)
    assert not release_exposure(store, exposure_id, "replica-a/1")  # no longer its to release
    assert not renew_exposure(store, exposure_id, "replica-a/1", later, MINUTE)  # nor to renew
    assert release_exposure(store, exposure_id, "replica-b/1")
    assert claimed(store, later) == {}
    assert not renew_exposure(store, exposure_id, "replica-b/1", later, MINUTE)  # a renewal never takes
    assert claimed(store, later) == {}
    store.dispose()


def test_a_claim_does_not_read_as_a_change_of_the_exposure(database_url: str) -> None:
    exposure_id = _one_exposure(database_url)
    store = open_store(database_url)
    with store.read() as db:
        before = load_exposure(db, exposure_id)
    assert claim_exposure(store, exposure_id, "w/1", utcnow(), MINUTE)
    with store.read() as db:
        after = load_exposure(db, exposure_id)
    assert before is not None and after is not None
    assert after["claimed_by"] == "w/1"
    after = after["updated_at"]
    before = before["updated_at"]
    assert after == before
    store.dispose()


def pending_exposures_now(store, now):  # type: ignore[no-untyped-def]
    with store.read() as db:
        return pending_exposures(db, ["new"], "failed", now, backoff=True)


def test_leases_are_held_renewed_taken_over_and_dropped(database_url: str) -> None:
    store = open_store(database_url)
    now = utcnow()
    assert take_lease(store, "scheduler", "a", now, MINUTE)
    assert not take_lease(store, "scheduler", "b", now, MINUTE)
    assert take_lease(store, "scheduler", "a", now + timedelta(seconds=30), MINUTE)  # renewed
    assert not take_lease(store, "scheduler", "b", now + MINUTE, MINUTE)  # the renewal counts
    assert lease_holder(store, "scheduler", now) == "a"
    assert take_lease(store, "scheduler", "b", now + 2 * MINUTE, MINUTE)  # a stopped renewing
    assert take_lease(store, "other-work", "a", now, MINUTE)  # leases are by name
    drop_lease(store, "scheduler", "b")
    assert lease_holder(store, "scheduler", now + 2 * MINUTE) is None
    assert take_lease(store, "scheduler", "c", now + 2 * MINUTE, MINUTE)
    store.dispose()


def _contend(url: str, exposure_id: int, who: str, start: multiprocessing.synchronize.Barrier, out) -> None:  # type: ignore[name-defined,no-untyped-def]
    store = open_store(url, migrate=False)
    start.wait()
    now = utcnow()
    out.put(
        (who, claim_exposure(store, exposure_id, who, now, MINUTE), take_lease(store, "L", who, now, MINUTE))
    )
    store.dispose()


@pytest.mark.parametrize("processes", [8])
def test_processes_asking_at_the_same_moment_get_one_winner(postgres_url: str, processes: int) -> None:
    exposure_id = _one_exposure(postgres_url)
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(target=_contend, args=(postgres_url, exposure_id, f"p{n}", start, out))
        for n in range(processes)
    ]
    for w in workers:
        w.start()
    answers = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(60)
    claim_winners = [who for who, got, _ in answers if got]
    lease_winners = [who for who, _, got in answers if got]
    assert len(claim_winners) == 1 and len(lease_winners) == 1, answers
    store = open_store(postgres_url)
    assert claimed(store, utcnow()) == {exposure_id: claim_winners[0]}
    assert lease_holder(store, "L", utcnow()) == lease_winners[0]
    store.dispose()


def test_a_claim_of_a_process_gone_from_this_host_is_taken_over_at_once(database_url: str) -> None:
    """A replica (or `keysentry respond`) killed and started again resumes its work without waiting for
    its old claims to run out; a live holder's claim, or another host's, is left alone."""
    exposure_id = _one_exposure(database_url)
    store = open_store(database_url)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = f"{socket.gethostname()}:{gone.pid}/1"
    keeper = ClaimKeeper(store, MINUTE)
    assert claim_exposure(store, exposure_id, f"other-host:{os.getpid()}/1", utcnow(), MINUTE)
    assert not keeper.claim(exposure_id, "me/1")  # another host's claim: its lease decides
    assert release_exposure(store, exposure_id, f"other-host:{os.getpid()}/1")
    assert claim_exposure(store, exposure_id, f"{socket.gethostname()}:{os.getpid()}/1", utcnow(), MINUTE)
    assert not keeper.claim(exposure_id, "me/1")  # a live process of this host holds it
    assert release_exposure(store, exposure_id, f"{socket.gethostname()}:{os.getpid()}/1")
    assert claim_exposure(store, exposure_id, dead, utcnow(), MINUTE)
    assert pending_exposures_now(store, utcnow()) == []
    with store.read() as db:
        assert pending_exposures(db, ["new"], "failed", utcnow(), True, claimed_by=dead_here) == [exposure_id]
    assert keeper.claim(exposure_id, "me/1")
    assert claimed(store, utcnow()) == {exposure_id: "me/1"}
    keeper.release(exposure_id, "me/1")
    store.dispose()


def test_a_watched_source_is_enqueued_once_its_next_poll_is_due_and_not_again_until_polled(
    database_url: str,
) -> None:
    from keysentry.app.watch_queue import PollScheduler, lease_name

    store = open_store(database_url)
    now = utcnow()
    scheduler = PollScheduler(["git:/srv/app.git", "pypi"], requeue_after=MINUTE)
    assert scheduler.due(store, now) == ["git:/srv/app.git", "pypi"]  # never polled
    for name in ("git:/srv/app.git", "pypi"):
        scheduler.sent(name, now)
    assert scheduler.due(store, now + timedelta(seconds=5)) == []  # enqueued, not taken yet
    # A worker polls the git source and holds its lease until the next poll is due (30 s on).
    assert take_lease(store, lease_name("git:/srv/app.git"), "worker-a/poll-1", now, timedelta(seconds=30))
    assert scheduler.due(store, now + timedelta(seconds=20)) == []
    # Due again: enqueued once, not at every round.
    assert scheduler.due(store, now + timedelta(seconds=31)) == ["git:/srv/app.git"]
    scheduler.sent("git:/srv/app.git", now + timedelta(seconds=31))
    assert scheduler.due(store, now + timedelta(seconds=32)) == []
    # The pypi message was lost (nobody took its lease): enqueued again after requeue_after.
    assert scheduler.due(store, now + MINUTE + timedelta(seconds=1)) == ["pypi"]
    store.dispose()
