"""Time, in one place and injectable: everything keysentry schedules (retries, timed steps, leases,
investigation delays) asks :func:`utcnow` or :func:`monotonic` here, so that a test installs a
:class:`ManualClock` and advances it instead of sleeping.  Timestamps from public sources are parsed
here too.

Waiting itself (a thread's ``Event.wait``) stays on the wall clock: a test drives the rounds that wait
(``Dispatcher.deliver_due``, ``ResponseWorker.round``) directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def utcnow(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to (:meth:`advance`); it starts at the wall clock's now."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._monotonic = 0.0
        self._lock = threading.Lock()

    def utcnow(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def advance(self, by: timedelta | float) -> datetime:
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._monotonic += seconds
            return self._now


_clock: Clock = SystemClock()


def utcnow() -> datetime:
    """Now, in UTC (aware)."""
    return _clock.utcnow()


def monotonic() -> float:
    return _clock.monotonic()


@contextmanager
def installed(clock: Clock) -> Iterator[Clock]:
    """Use ``clock`` in every thread of the process until the block ends."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield clock
    finally:
        _clock = previous


def parse_timestamp(value: object, naive_is_utc: bool = True) -> datetime | None:
    """An ISO 8601 time from a public source ("Z" accepted), or None if it is not one.  A time without
    a zone is UTC, or unknown (None) with ``naive_is_utc=False``.  Always aware: the store refuses naive
    times."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo:
        return when
    return when.replace(tzinfo=UTC) if naive_is_utc else None
