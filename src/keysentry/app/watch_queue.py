"""The watchers' polls on the ``watch`` queue: one poll per message, once at a time per source however many
replicas and workers are up, at the pace each source sets.

Each source has a lease in the store, ``watch:<name>``.  A worker polls only when it can take the lease
(free, or run out), holds it while the poll runs (renewed every third of ``claim_lease``), and then
leaves it held until the source's next poll is due (its interval, what a throttle asked, or a back-off
after a failure): the lease's expiry *is* the next poll's time.  The replica holding the scheduler's
lease enqueues a poll for each source whose lease has run out and that it has not enqueued since
(:class:`PollScheduler`); a duplicate message finds the lease taken and does nothing.  Where a watcher
stands (its cursor) was already in the store, so any worker can take the next poll.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from keysentry.app.scan_queue import kept_alive
from keysentry.clock import utcnow
from keysentry.config.settings import Settings
from keysentry.store.claims import lease_expiry, take_lease
from keysentry.store.db import Store
from keysentry.watch.base import Watcher
from keysentry.watch.runner import WatchRunner

log = logging.getLogger(__name__)


def lease_name(watcher_name: str) -> str:
    return f"watch:{watcher_name}"


class QueuedPolls:
    """A worker process's side: its watchers (built from the same settings as the service's) and the
    failures in a row of each, for the back-off."""

    def __init__(self, runner: WatchRunner, store: Store, settings: Settings) -> None:
        self.runner = runner
        self.store = store
        self.settings = settings
        self.by_name = {w.name: w for w in runner.watchers}
        self.failed: dict[str, int] = {}

    def poll(self, name: str, owner: str) -> str:
        """Poll the source ``name`` if it is due and nobody else polls it; what happened, in a word."""
        watcher: Watcher | None = self.by_name.get(name)
        if watcher is None:
            log.warning("watch %s: not in this worker's [watch] settings; ignored", name)
            return "unknown"
        lease, hold = lease_name(name), self.settings.claim_lease
        if not take_lease(self.store, lease, owner, utcnow(), hold):
            return "not due"  # polled by another, or its next poll is not due yet
        with kept_alive(lambda: take_lease(self.store, lease, owner, utcnow(), hold), hold / 3):
            wait, self.failed[name] = self.runner.attempt(watcher, self.failed.get(name, 0))
        # Held until the next poll is due: nobody polls the source before then.
        take_lease(self.store, lease, owner, utcnow(), timedelta(seconds=wait))
        return "failed" if self.failed[name] else "polled"


class PollScheduler:
    """The scheduler's side: which sources to enqueue a poll for now."""

    def __init__(self, names: list[str], requeue_after: timedelta) -> None:
        self.names = names
        self.requeue_after = requeue_after
        self.enqueued: dict[str, datetime] = {}

    def due(self, store: Store, now: datetime) -> list[str]:
        """Sources whose lease has run out (or never was) and that were not enqueued since it ran out,
        nor within ``requeue_after`` (a lost message)."""
        due = []
        for name in self.names:
            expiry = lease_expiry(store, lease_name(name))
            if expiry is not None and expiry > now:
                continue  # being polled, or not due yet
            last = self.enqueued.get(name)
            if last is None or (expiry is not None and last < expiry) or last <= now - self.requeue_after:
                due.append(name)
        return due

    def sent(self, name: str, now: datetime) -> None:
        self.enqueued[name] = now
