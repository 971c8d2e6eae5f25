"""The service's background work: responding to what was recorded, and delivering the outbox."""

from __future__ import annotations

import logging
import threading

from keysentry.respond.responder import Responder

log = logging.getLogger(__name__)


class ResponseWorker:
    """Two threads: one advances every pending exposure (woken at once by intake, else every
    ``interval`` seconds for timed steps), one runs the outbox's dispatcher."""

    def __init__(self, responder: Responder, interval: float = 1.0) -> None:
        self.responder = responder
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._respond, name="keysentry-respond", daemon=True),
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
        """Finish the step in hand and stop; what is left stays recorded for the next start."""
        self._stop.set()
        self._wake.set()
        self.responder.dispatcher.wake()
        for thread in self._threads:
            thread.join(timeout)

    def _respond(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                for exposure_id in self.responder.pending():
                    if self._stop.is_set():
                        return
                    self.responder.advance(exposure_id)
            except Exception:  # a database hiccup must not end the service
                log.exception("response round failed")
            self._wake.wait(self.interval)
