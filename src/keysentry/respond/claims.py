"""The claims a process holds on the exposures it is running, kept alive while the runs go on.

A run claims its exposure before its first step and releases it after its last
(:mod:`keysentry.store.claims`).  A step can wait on AWS longer than the lease (retries, a slow
account), so a keeper thread renews every claim held here every third of the lease: a claim runs out
only when its process has died or hangs, and then another run takes the exposure over.  A run whose
claim was nevertheless taken (the keeper could not reach the store in time) learns it before its next
step and stops there.

A claim is named after its run: ``host:pid/n``.  A run that finds the claim held by a process of its
own host that no longer exists (a replica, or ``keysentry respond``, killed and started again) takes
it over at once instead of waiting for the lease: on one machine, restarting is how work resumes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from keysentry.clock import utcnow
from keysentry.store.claims import (
    claim_exposure,
    holder_of,
    release_exposure,
    renew_exposure,
    take_over_exposure,
)
from keysentry.store.db import Store

log = logging.getLogger(__name__)


def process_identity() -> str:
    """This process, as claims name their holder: host and process ID."""
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_here(holder: str) -> bool:
    """Whether ``holder`` (``host:pid/n``) names a process of this host that no longer exists."""
    host, _, rest = holder.rpartition(":")
    pid = rest.split("/", 1)[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's process
        return False
    return False


class ClaimKeeper:
    def __init__(self, store: Store, lease: timedelta) -> None:
        self.store = store
        self.lease = lease
        self._held: dict[tuple[int, str], bool] = {}  # (exposure, owner) → still ours
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def claim(self, exposure_id: int, owner: str) -> bool:
        """Claim the exposure for ``owner`` and keep the claim alive until :meth:`release`."""
        if not claim_exposure(self.store, exposure_id, owner, utcnow(), self.lease):
            holder = holder_of(self.store, exposure_id)
            if holder is None or not dead_here(holder):
                return False
            if not take_over_exposure(self.store, exposure_id, holder, owner, utcnow(), self.lease):
                return False
            log.info("exposure %s: taken over from %s, which is no longer running", exposure_id, holder)
        with self._lock:
            self._held[(exposure_id, owner)] = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._renew, name="keysentry-claims", daemon=True)
                self._thread.start()
        return True

    def holds(self, exposure_id: int, owner: str) -> bool:
        """Whether the claim is still ``owner``'s (renewed now, so that a lapse is noticed)."""
        with self._lock:
            if not self._held.get((exposure_id, owner), False):
                return False
        kept = renew_exposure(self.store, exposure_id, owner, utcnow(), self.lease)
        if not kept:
            with self._lock:
                self._held[(exposure_id, owner)] = False
        return kept

    def release(self, exposure_id: int, owner: str) -> None:
        with self._lock:
            self._held.pop((exposure_id, owner), None)
        release_exposure(self.store, exposure_id, owner)

    def _renew(self) -> None:
        pause = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            threading.Event().wait(pause)
            with self._lock:
                if not self._held:  # nothing to keep: the next claim starts a keeper again
                    self._thread = None
                    return
                held = [key for key, ours in self._held.items() if ours]
            for exposure_id, owner in held:
                try:
                    kept = renew_exposure(self.store, exposure_id, owner, utcnow(), self.lease)
                except Exception:  # a database hiccup: the lease covers it, or the run learns of it
                    log.warning("could not renew the claim on exposure %s", exposure_id, exc_info=True)
                    continue
                if not kept:
                    with self._lock:
                        if (exposure_id, owner) not in self._held:
                            continue  # released meanwhile: its run is over
                    log.warning("exposure %s: claim lost to another run", exposure_id)
                    with self._lock:
                        if (exposure_id, owner) in self._held:
                            self._held[(exposure_id, owner)] = False
