"""What every watcher is: a name, and a poll that turns where it stood into what is new, scanned."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from keysentry.detect.scanner import ScanReport


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
