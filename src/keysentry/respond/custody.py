"""The secrets of revocable credentials, held in memory from the scan that found them until their
revocation is recorded; never written to the store, a log or a message.

An issuer that revokes a leaked token (GitHub, Slack, GitLab) needs the token itself, and keysentry
keeps only its SHA-256.  So the scan hands the token over (:class:`~keysentry.detect.findings.Held`),
intake keeps it here before the exposure is committed, and the issuer's containment step takes it by
the exposure's fingerprint.  A service that stops loses what it held: the step then says so and asks a
person to revoke the token (:mod:`keysentry.respond.issuers`).  Entries expire after ``ttl`` seconds,
and at most ``most`` are held (the oldest go first)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from keysentry.detect.findings import Held


class Custody:
    def __init__(self, ttl: float = 24 * 3600.0, most: int = 100_000) -> None:
        self.ttl = ttl
        self.most = most
        self._lock = threading.Lock()
        self._held: OrderedDict[str, tuple[Held, float]] = OrderedDict()

    def keep(self, held: Iterable[Held]) -> None:
        now = time.monotonic()
        with self._lock:
            for h in held:
                self._held[h.fingerprint] = (h, now + self.ttl)
                self._held.move_to_end(h.fingerprint)
            while len(self._held) > self.most:
                self._held.popitem(last=False)

    def get(self, fingerprint: str) -> Held | None:
        with self._lock:
            entry = self._held.get(fingerprint)
            if entry is None:
                return None
            if entry[1] < time.monotonic():
                del self._held[fingerprint]
                return None
            return entry[0]

    def release(self, fingerprint: str) -> None:
        with self._lock:
            self._held.pop(fingerprint, None)

    def __len__(self) -> int:
        return len(self._held)

    def __repr__(self) -> str:
        return f"<Custody: {len(self._held)} secrets held, not shown>"
