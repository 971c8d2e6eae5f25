"""Run watchers: each in its own thread, at the pace its source sets, handing what it finds to a sink
(record and respond) before its cursor moves on.  A failing source backs off and never stops the others."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from keysentry.detect.scanner import ScanReport
from keysentry.errors import SourceError
from keysentry.retry import FAILED_POLL
from keysentry.store.cursors import Cursors
from keysentry.watch.base import Watcher, WatchPoll
from keysentry.watch.http import Throttled

log = logging.getLogger(__name__)
Sink = Callable[[Watcher, WatchPoll], None]


def found_anything(report: ScanReport | None) -> bool:
    return report is not None and bool(report.findings or report.suppressed)


class WatchRunner:
    def __init__(self, watchers: list[Watcher], cursors: Cursors, sink: Sink) -> None:
        self.watchers = watchers
        self.cursors = cursors
        self.sink = sink
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failures: dict[str, int] = {}
        self.incomplete: dict[str, int] = {}  # polls that could not read everything, by watcher

    def poll(self, watcher: Watcher) -> WatchPoll:
        """One poll: what is new is handed to the sink, and only then is the cursor saved.  A poll that
        could not read everything (a missing object, a download that does not match its digest) keeps
        the cursor where it was: what it found is recorded, and the next poll reads the same again."""
        poll = watcher.poll(self.cursors.get(watcher.name))
        self.sink(watcher, poll)
        if poll.report is not None and poll.report.incomplete:
            self.incomplete[watcher.name] = self.incomplete.get(watcher.name, 0) + 1
            unreadable = "; ".join(f"{s.provenance.describe()}: {s.reason}" for s in poll.report.damaged[:3])
            log.warning(
                "%s: incomplete poll, %d input(s) could not be read (%s); its cursor stays where it was",
                watcher.name,
                len(poll.report.damaged),
                unreadable,
            )
            return poll
        self.cursors.put(watcher.name, poll.state)
        return poll

    def attempt(self, watcher: Watcher, failed: int = 0) -> tuple[float, int]:
        """One poll, its failure logged and counted rather than raised; the seconds until the next poll
        (the source's pace, what a throttle asks, or a back-off) and the failures in a row so far."""
        try:
            poll = self.poll(watcher)
            if poll.items:
                log.info("%s: %s", watcher.name, poll.summary)
            return poll.next_poll, 0
        except Throttled as exc:
            log.warning("%s: %s", watcher.name, exc)
            return exc.wait, failed
        except Exception as exc:  # a source or the store failing must not end the others
            self.failures[watcher.name] = self.failures.get(watcher.name, 0) + 1
            failed += 1
            wait = FAILED_POLL.delay(failed).total_seconds()
            if isinstance(exc, SourceError):
                log.warning("%s: %s; next try in %.0f s", watcher.name, exc, wait)
            else:
                log.exception("%s: poll failed; next try in %.0f s", watcher.name, wait)
            return wait, failed

    def _loop(self, watcher: Watcher) -> None:
        failed = 0  # polls failed in a row
        while not self._stop.is_set():
            wait, failed = self.attempt(watcher, failed)
            self._stop.wait(wait)

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._loop, args=(w,), name=f"keysentry-watch-{w.name}", daemon=True)
            for w in self.watchers
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the poll in hand; its cursor is saved only if its findings were recorded."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
