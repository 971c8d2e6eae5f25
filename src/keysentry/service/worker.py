"""The service's background work: responding to what was recorded, and delivering the outbox."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from keysentry.respond.responder import Responder

log = logging.getLogger(__name__)


class ResponseWorker:
    """A scheduling thread hands every pending exposure to a pool of ``threads`` responders (woken at
        once by intake, else every ``interval`` seconds for timed steps and retries, a failed step backing
    off 2, 4, 8 … seconds up to five minutes); each exposure is
        advanced by one thread at a time, so its steps stay in order.  Another thread runs the outbox's
        dispatcher.  Most of a response is waiting for AWS, so a few threads contain many keys at once."""

    def __init__(self, responder: Responder, interval: float = 1.0, threads: int = 8) -> None:
        self.responder = responder
        self.interval = interval
        self.threads = threads
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="keysentry-respond")
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
        assert self._pool is not None
        while not self._stop.is_set():
            self._wake.clear()
            try:
                for exposure_id in self.responder.pending(backoff=True):
                    if self._stop.is_set():
                        return
                    with self._lock:
                        if exposure_id in self._in_flight:
                            continue
                        self._in_flight.add(exposure_id)
                    self._pool.submit(self._advance, exposure_id)
            except Exception:  # a database hiccup must not end the service
                log.exception("response round failed")
            self._wake.wait(self.interval)

    def _advance(self, exposure_id: int) -> None:
        try:
            if not self._stop.is_set():
                self.responder.advance(exposure_id)
        except Exception:  # one exposure's trouble must not stop the others
            log.exception("exposure %s: response failed", exposure_id)
        finally:
            with self._lock:
                self._in_flight.discard(exposure_id)
