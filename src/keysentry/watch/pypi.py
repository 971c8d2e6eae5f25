"""PyPI's new releases: read the updates feed (``/rss/updates.xml``, the newest releases), look each new
release up in the JSON API (``/pypi/<project>/<version>/json``), download its files (sdist, wheels),
check each against its published SHA-256, and scan it as the archive it is.

Releases already scanned are remembered in the cursor; releases not read yet when PyPI asks us to wait
stay pending there."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any
from urllib.parse import quote, urlsplit

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from keysentry.clock import parse_timestamp
from keysentry.content import Blob, Provenance, Skipped
from keysentry.errors import SourceError
from keysentry.scan.pipeline import scan_blobs
from keysentry.watch.base import WatchPoll, read_pending, remember
from keysentry.watch.http import SourceClient, Throttled, TooLarge

log = logging.getLogger(__name__)
KIND = "pypi"
_PROJECT_LINK = re.compile(r"/project/([^/]+)/([^/]+)/?$")
SEEN_KEPT = 5000


def releases_in_feed(xml: bytes) -> list[tuple[str, str]]:
    """(project, version) of every item in PyPI's updates feed, newest first, as the feed lists them."""
    try:
        root = ElementTree.fromstring(xml)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise SourceError(f"PyPI's updates feed is not readable RSS: {exc}") from exc
    found = []
    for item in root.iter("item"):
        link = urlsplit((item.findtext("link") or "").strip()).path
        match = _PROJECT_LINK.search(link)
        if match:
            found.append((match.group(1), match.group(2)))
            continue
        title = (item.findtext("title") or "").split()
        if len(title) == 2:
            found.append((title[0], title[1]))
    return found


class PyPIWatch:
    name = KIND

    def __init__(
        self,
        index_url: str = "https://pypi.org",
        interval: float = 60.0,
        max_download_bytes: int = 64 * 1024 * 1024,
        client: SourceClient | None = None,
    ) -> None:
        self.index = index_url.rstrip("/")
        self.interval = interval
        self.max_download_bytes = max_download_bytes
        self.client = client or SourceClient()

    def _release(self, project: str, version: str) -> list[Blob | Skipped]:
        meta = self.client.json(f"{self.index}/pypi/{quote(project)}/{quote(version)}/json")
        out: list[Blob | Skipped] = []
        for entry in meta.get("urls") or []:
            if not isinstance(entry, dict) or not entry.get("url") or not entry.get("filename"):
                continue
            where = Provenance(
                KIND,
                path=str(entry["filename"]),
                repository=f"{self.index}/project/{project}/{version}/",
                committed_at=parse_timestamp(entry.get("upload_time_iso_8601")),
                url=str(entry["url"]),
            )
            size = int(entry.get("size") or 0)
            if size > self.max_download_bytes:
                out.append(
                    Skipped(where, f"{size} bytes, larger than the {self.max_download_bytes} downloaded")
                )
                continue
            try:
                data = self.client.download(str(entry["url"]), self.max_download_bytes)
            except TooLarge as exc:
                out.append(Skipped(where, str(exc)))
                continue
            expected = str((entry.get("digests") or {}).get("sha256") or "")
            if expected and hashlib.sha256(data).hexdigest() != expected.lower():
                out.append(
                    Skipped(where, "the download does not match the SHA-256 PyPI publishes", damaged=True)
                )
                continue
            out.append(Blob(data, where))
        return out

    def poll(self, state: dict[str, Any]) -> WatchPoll:
        seen: list[str] = list(state.get("seen") or [])
        pending: list[str] = list(state.get("pending") or [])
        interval = self.interval
        try:
            feed = releases_in_feed(self.client.get(f"{self.index}/rss/updates.xml").content)
        except Throttled as exc:
            feed, interval = [], exc.wait
        known = set(seen) | set(pending)
        for project, version in reversed(feed):  # oldest first
            key = f"{project}=={version}"
            if key not in known:
                pending.append(key)
                known.add(key)
        found: list[Blob | Skipped] = []
        done, wait = read_pending(KIND, pending, lambda key: found.extend(self._release(*key.split("==", 1))))
        interval = interval if wait is None else wait  # back as soon as allowed: work is waiting
        state = {"seen": remember(seen, done, SEEN_KEPT), "pending": pending}
        report = scan_blobs(found) if found else None
        files = sum(isinstance(f, Blob) for f in found)
        summary = f"{len(done)} release(s), {files} file(s) scanned, {len(pending)} waiting"
        return WatchPoll(report, interval, summary, state, items=len(done))
