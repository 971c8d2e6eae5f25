"""The service's background work: responding to what was recorded, and delivering the outbox."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from keysentry.clock import monotonic
from keysentry.respond.responder import Responder

log = logging.getLogger(__name__)


class ResponseWorker:
    """A scheduling thread hands exposures to a pool of ``threads`` responders; each exposure is advanced
    by one thread at a time, so its steps stay in order.  What intake records is handed over the moment
    it is committed (:meth:`Responder.on_recorded`); every ``interval`` seconds, or when woken, the
    database is asked what else is pending: timed steps that are due, retries (a failed step backs off
    2, 4, 8 … seconds up to five minutes), whatever another process recorded.  Another thread runs the
    outbox's dispatcher.  Most of a response is waiting for AWS, so a few threads contain many keys at
    once."""

    def __init__(self, responder: Responder, interval: float = 1.0, threads: int = 8) -> None:
        self.responder = responder
        self.interval = interval
        self.threads = threads
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # guards the four below
        self._in_flight: set[int] = set()
        self._again: set[int] = set()  # handed over again while in flight: advanced once more after
        self._handed: list[int] = []
        self._scan = True
        self._next_scan = monotonic()
        self.rounds = 0  # scheduling passes done
        responder.on_recorded(self.submit)

    def start(self, rounds: bool = True) -> None:
        """Start the responders' pool and, with ``rounds``, the scheduling and dispatching threads.
        Without (a test on a :class:`~keysentry.clock.ManualClock`), the caller drives :meth:`round`."""
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="keysentry-respond")
        if not rounds:
            return
        self._threads = [
            threading.Thread(target=self._schedule, name="keysentry-schedule", daemon=True),
            threading.Thread(
                target=self.responder.dispatcher.run,
                args=(self._stop,),
                name="keysentry-dispatch",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Ask the database what is pending, now."""
        with self._lock:
            self._scan = True
        self._wake.set()

    def submit(self, exposure_ids: list[int]) -> None:
        """Advance these exposures (just committed) as soon as a responder is free.  Before the worker
        starts, nothing is kept: its first round asks the database."""
        if self._pool is None:
            return
        with self._lock:
            self._handed.extend(exposure_ids)
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the steps in hand and stop; what is left stays recorded for the next start."""
        self._stop.set()
        self._wake.set()
        self.responder.dispatcher.wake()
        for thread in self._threads:
            thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _schedule(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self._wake.wait(self.round())

    def round(self) -> float:
        """One scheduling pass: hand out what intake handed over and, when woken or once ``interval`` has
        passed since the last time, what the database says is pending.  The seconds until the next."""
        with self._lock:
            handed, self._handed = self._handed, []
            scan = self._scan or monotonic() >= self._next_scan
            self._scan = False
        try:
            self._hand_out(handed, again_if_busy=True)
            if scan:
                self._next_scan = monotonic() + self.interval
                self._hand_out(self.responder.pending(backoff=True), again_if_busy=False)
        except Exception:  # a database hiccup must not end the service
            log.exception("response round failed")
            with self._lock:
                self._scan = True  # after the interval: what was handed over is pending there too
        self.rounds += 1
        return max(0.0, self._next_scan - monotonic())

    def settle(self, timeout: float = 60.0) -> bool:
        """Wait until no exposure is in a responder's hands (True), or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._in_flight:
                    return True
            time.sleep(0.01)
        return False

    def _hand_out(self, exposure_ids: list[int], again_if_busy: bool) -> None:
        """To the responders, each exposure once at a time.  One in a responder's hands already is
        skipped, or with ``again_if_busy`` (it was recorded again meanwhile) advanced once more after."""
        assert self._pool is not None
        for exposure_id in exposure_ids:
            if self._stop.is_set():
                return
            with self._lock:
                if exposure_id in self._in_flight:
                    if again_if_busy:
                        self._again.add(exposure_id)
                    continue
                self._in_flight.add(exposure_id)
            self._pool.submit(self._advance, exposure_id)

    def _advance(self, exposure_id: int) -> None:
        try:
            if not self._stop.is_set():
                self.responder.advance(exposure_id)
        except Exception:  # one exposure's trouble must not stop the others
            log.exception("exposure %s: response failed", exposure_id)
        finally:
            with self._lock:
                self._in_flight.discard(exposure_id)
                again = exposure_id in self._again
                self._again.discard(exposure_id)
                if again:
                    self._handed.append(exposure_id)
            if again:
                self._wake.set()
