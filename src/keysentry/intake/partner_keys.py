"""GitHub's secret scanning public keys: from a configured file (the embedded default), or fetched from
GitHub's meta endpoint and cached, fetched again when a request names a key we do not know yet (at most
once a minute, so forged identifiers cannot make us hammer GitHub)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from keysentry.intake.github_partner import load_public_keys

log = logging.getLogger(__name__)
REFRESH_AT_MOST_EVERY = 60.0


class PartnerKeys:
    def __init__(self, key_file: Path | None, meta_url: str) -> None:
        self.key_file = key_file
        self.meta_url = meta_url
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._fetched_at = -REFRESH_AT_MOST_EVERY
        self._lock = threading.Lock()
        if key_file is not None:
            self._keys = load_public_keys(key_file)

    def get(self, identifier: str | None) -> dict[str, ec.EllipticCurvePublicKey]:
        """The keys, fetched (again) from GitHub if ``identifier`` is not among them."""
        if self.key_file is not None or not identifier:
            return self._keys
        with self._lock:
            stale = time.monotonic() - self._fetched_at >= REFRESH_AT_MOST_EVERY
            if identifier not in self._keys and stale:
                self._fetched_at = time.monotonic()
                try:
                    answer = httpx.get(self.meta_url, timeout=10, headers={"Accept": "application/json"})
                    answer.raise_for_status()
                    self._keys = load_public_keys(answer.json())
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    log.warning("cannot fetch GitHub's secret scanning keys from %s: %s", self.meta_url, exc)
            return self._keys
