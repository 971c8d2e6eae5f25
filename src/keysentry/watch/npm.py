"""npm's new releases: follow the registry's changes feed (CouchDB ``_changes`` on the replication
host, from a stored sequence), read each changed package's document from the registry, and for every
version published recently that we have not scanned yet, download its tarball, check it against the
``dist.integrity`` (or ``dist.shasum``) the registry publishes, and scan it.

The first poll starts from the feed's current sequence: the registry's whole past is not ours to
rescan.  A package not read yet when the registry asks us to wait stays pending in the cursor."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from keysentry.clock import parse_timestamp, utcnow
from keysentry.content import Blob, Provenance, Skipped
from keysentry.errors import SourceError
from keysentry.scan.pipeline import scan_blobs
from keysentry.watch.base import WatchPoll, read_pending, remember
from keysentry.watch.http import SourceClient, Throttled, TooLarge

log = logging.getLogger(__name__)
KIND = "npm"
SEEN_KEPT = 20000
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # a package document with thousands of versions is large


def integrity_holds(data: bytes, dist: dict[str, Any]) -> bool | None:
    """Whether ``data`` is what the registry published: the strongest SRI hash in ``integrity``, else
    the SHA-1 ``shasum``; None when the registry published neither."""
    for token in str(dist.get("integrity") or "").split():
        algorithm, _, digest = token.partition("-")
        if algorithm in ("sha512", "sha384", "sha256"):
            actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
            return actual == digest
    if dist.get("shasum"):
        return hashlib.sha1(data, usedforsecurity=False).hexdigest() == str(dist["shasum"]).lower()
    return None


class NpmWatch:
    name = KIND

    def __init__(
        self,
        replicate_url: str = "https://replicate.npmjs.com",
        registry_url: str = "https://registry.npmjs.org",
        interval: float = 60.0,
        lookback: timedelta = timedelta(hours=6),
        batch: int = 500,
        max_download_bytes: int = 64 * 1024 * 1024,
        client: SourceClient | None = None,
    ) -> None:
        self.replicate = replicate_url.rstrip("/")
        self.registry = registry_url.rstrip("/")
        self.interval = interval
        self.lookback = lookback
        self.batch = batch
        self.max_download_bytes = max_download_bytes
        self.client = client or SourceClient({"Accept": "application/json"})

    def _document(self, name: str) -> dict[str, Any]:
        url = f"{self.registry}/{quote(name, safe='@')}"  # @scope/name → @scope%2Fname
        try:
            document = json.loads(self.client.download(url, MAX_DOCUMENT_BYTES))
        except ValueError as exc:
            raise SourceError(f"{url}: the package document is not JSON") from exc
        if not isinstance(document, dict):
            raise SourceError(f"{url}: expected a package document")
        return document

    def _new_versions(self, name: str, seen: set[str], out: list[Blob | Skipped]) -> None:
        """Append each new version's tarball (or why not) to ``out``, marking it seen; a version not
        downloaded because the registry asked us to wait stays unseen."""
        document = self._document(name)
        times = document.get("time") or {}
        cutoff = utcnow() - self.lookback
        for version, meta in (document.get("versions") or {}).items():
            published = parse_timestamp(times.get(version))
            key = f"{name}@{version}"
            if key in seen or published is None or published < cutoff or not isinstance(meta, dict):
                continue
            dist = meta.get("dist") or {}
            tarball = str(dist.get("tarball") or "")
            if not tarball:
                continue
            where = Provenance(
                KIND,
                path=tarball.rsplit("/", 1)[-1],
                repository=f"https://www.npmjs.com/package/{name}/v/{version}",
                committed_at=published,
                url=tarball,
            )
            try:
                data = self.client.download(tarball, self.max_download_bytes)
            except TooLarge as exc:
                out.append(Skipped(where, str(exc)))
            else:
                if integrity_holds(data, dist) is False:
                    reason = "the tarball does not match the integrity the registry publishes"
                    out.append(Skipped(where, reason, damaged=True))
                else:
                    out.append(Blob(data, where))
            seen.add(key)

    def poll(self, state: dict[str, Any]) -> WatchPoll:
        seen_list: list[str] = list(state.get("seen") or [])
        pending: list[str] = list(state.get("pending") or [])
        since = state.get("since")
        if since is None:  # the first poll: from now on
            since = self.client.json(f"{self.replicate}/").get("update_seq")
            if since is None:
                raise SourceError(f"{self.replicate}/: no update_seq to start from")
            return WatchPoll(None, self.interval, f"following from sequence {since}", {"since": since})
        interval = self.interval
        try:
            changes = self.client.json(f"{self.replicate}/_changes", since=since, limit=self.batch)
            results = [r for r in changes.get("results") or [] if isinstance(r, dict)]
            for change in results:
                name = str(change.get("id") or "")
                if (
                    name
                    and not change.get("deleted")
                    and not name.startswith("_design/")
                    and name not in pending
                ):
                    pending.append(name)
            since = changes.get("last_seq", results[-1]["seq"] if results else since)
            if len(results) >= self.batch:
                interval = 0.0  # behind: read on at once
        except Throttled as exc:
            interval = exc.wait
        seen = set(seen_list)
        found: list[Blob | Skipped] = []
        before = set(seen)
        done, wait = read_pending(KIND, pending, lambda name: self._new_versions(name, seen, found))
        interval = interval if wait is None else wait  # back as soon as allowed: work is waiting
        scanned = [key for key in seen if key not in before]
        state = {"since": since, "pending": pending, "seen": remember(seen_list, sorted(scanned), SEEN_KEPT)}
        report = scan_blobs(found) if found else None
        summary = (
            f"{len(done)} changed package(s), {len(scanned)} new version(s) scanned, {len(pending)} waiting"
        )
        return WatchPoll(report, interval, summary, state, items=len(scanned))
