"""What every watcher is: a name, and a poll that turns where it stood into what is new, scanned."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from keysentry.detect.scanner import ScanReport
from keysentry.watch.http import Throttled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchPoll:
    report: ScanReport | None  # None when nothing new was scanned
    next_poll: float  # seconds until the source wants (or allows) the next poll
    summary: str  # one line for the log and the console
    state: dict[str, Any] = field(default_factory=dict)  # where the watcher stands now (saved after)
    items: int = 0  # new things seen: commits, tips, releases


class Watcher(Protocol):
    name: str  # unique per source: the key of its cursor

    def poll(self, state: dict[str, Any]) -> WatchPoll:
        """Look for what is new since ``state`` and scan it.  Must not lose its place: content it could
        not fetch yet (rate limits) stays in the returned state for the next poll."""
        ...


def remember(seen: list[str], new: list[str], keep: int) -> list[str]:
    """``seen`` with ``new`` appended, the oldest dropped past ``keep`` entries."""
    already = set(seen)
    merged = seen + [n for n in new if n not in already]
    return merged[-keep:]


def read_pending(
    kind: str, pending: list[str], read: Callable[[str], None]
) -> tuple[list[str], float | None]:
    """``read`` each pending item in turn, removing it from ``pending``, until the source asks us to
    wait; an item whose answer is malformed is logged and passed over, never retried forever.  Returns
    the items done and how long the source asked us to wait (None if it did not)."""
    done: list[str] = []
    for item in list(pending):
        try:
            read(item)
        except Throttled as exc:
            return done, exc.wait  # the rest stays pending
        except Exception as exc:  # a malformed answer for one item must not block the rest
            log.warning("%s: %s not read: %s", kind, item, exc)
        done.append(item)
        pending.remove(item)
    return done, None
