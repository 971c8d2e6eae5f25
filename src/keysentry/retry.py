"""One retry policy for everything that tries again: the outbox's deliveries, the responder's failed
steps and the watchers' failed polls.  The wait doubles from ``first`` up to ``most``, each drawn from
its upper half (full jitter would retry too soon; none would make every retry march in step)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Backoff:
    first: timedelta
    most: timedelta

    def delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """The wait after the ``attempt``-th failure in a row (1 for the first)."""
        doublings = min(max(attempt, 1) - 1, 32)  # 2**32 of anything is past any ceiling
        ceiling = min(self.first * 2**doublings, self.most)
        return timedelta(seconds=ceiling.total_seconds() * (rng or random).uniform(0.5, 1.0))


# The response's own schedules (the outbox's come from the delivery_backoff settings).
FAILED_STEP = Backoff(timedelta(seconds=2), timedelta(minutes=5))  # the service retries; an operator at once
FAILED_TIMED_STEP = Backoff(timedelta(minutes=2), timedelta(hours=1))  # CloudTrail reads, deactivation
FAILED_POLL = Backoff(timedelta(seconds=5), timedelta(minutes=10))  # a watcher's source
