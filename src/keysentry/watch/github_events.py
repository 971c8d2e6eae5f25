"""GitHub's public events: poll an events feed (all public events, an organization's or a user's) the
way GitHub asks (``If-None-Match`` with the last ETag, so that "nothing new" costs no rate limit; never
sooner than ``X-Poll-Interval``; waiting out 403/429 rate limits), and scan the commits of every push.

Each commit is read through the commits API: the new side of each file's patch (kept at its line
numbers), or the whole blob when GitHub gives no patch (binary or very large files).  Commits not read
yet when the rate limit runs out stay pending in the cursor and are read first at the next poll."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from keysentry.clock import parse_timestamp
from keysentry.content import Blob, Provenance, Skipped
from keysentry.errors import SourceError
from keysentry.scan.pipeline import scan_blobs
from keysentry.watch.base import WatchPoll
from keysentry.watch.http import SourceClient, Throttled

log = logging.getLogger(__name__)
KIND = "github-events"
NO_COMMIT = "0" * 40
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
MAX_PATCH_LINE = 1_000_000  # a hunk claiming a later line is not padded out to it
MAX_FILE_PAGES = 10  # the commits API lists 300 files a page


def new_side(patch: str) -> bytes:
    """The lines a patch leaves in the file (added and context), each at its line number there, so that a
    finding's line is the file's line; removed lines are gone and are not scanned."""
    out: list[str] = []
    line = 1
    for row in patch.split("\n"):
        hunk = _HUNK.match(row)
        if hunk:
            line = int(hunk.group(1))
            if line > MAX_PATCH_LINE:
                break
            continue
        if row.startswith(("-", "\\")):
            continue
        if len(out) < line - 1:
            out.extend([""] * (line - 1 - len(out)))
        out.append(row[1:] if row[:1] in ("+", " ") else row)
        line += 1
    return "\n".join(out).encode("utf-8", "surrogateescape")


class GitHubEventsWatch:
    def __init__(
        self,
        api_url: str = "https://api.github.com",
        feeds: tuple[str, ...] = ("/events",),
        token: str | None = None,
        max_blob_bytes: int = 8 * 1024 * 1024,
        max_pending: int = 5000,
        client: SourceClient | None = None,
    ) -> None:
        self.api = api_url.rstrip("/")
        self.feeds = feeds
        self.name = KIND if feeds == ("/events",) else f"{KIND}:{','.join(feeds)}"
        self.max_blob_bytes = max_blob_bytes
        self.max_pending = max_pending
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = client or SourceClient(headers)

    # --- the feed ---------------------------------------------------------------------------
    def _read_feed(self, feed: str, cursor: dict[str, Any]) -> tuple[list[dict[str, Any]], float]:
        """Events newer than the cursor's last one (oldest first), and the poll interval GitHub asks for.
        Updates ``cursor`` (ETag, last event ID).  Follows ``next`` pages only while they can still hold
        events we have not seen (the feed keeps 300)."""
        headers = {"If-None-Match": cursor["etag"]} if cursor.get("etag") else None
        response = self.client.get(f"{self.api}{feed}", headers=headers, per_page=100)
        interval = float(response.headers.get("x-poll-interval") or 60)
        if response.status_code == 304:
            return [], interval
        last = int(cursor.get("last_event_id") or 0)
        events: list[dict[str, Any]] = []
        page, pages = response, 1
        while True:
            body = page.json()
            if not isinstance(body, list):
                raise SourceError(f"{self.api}{feed}: expected a list of events")
            batch = [e for e in body if isinstance(e, dict) and str(e.get("id", "")).isdigit()]
            events.extend(e for e in batch if int(e["id"]) > last)
            oldest = min((int(e["id"]) for e in batch), default=0)
            following = page.links.get("next", {}).get("url")
            if not following or oldest <= last or not last or pages >= 3:
                break  # the first poll reads one page: the newest events, not the feed's whole past
            page, pages = self.client.get(following), pages + 1
        if response.headers.get("etag"):
            cursor["etag"] = response.headers["etag"]
        cursor["last_event_id"] = str(max([last, *(int(e["id"]) for e in events)]))
        events.sort(key=lambda e: int(e["id"]))
        return events, interval

    @staticmethod
    def _pushes(events: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Work items for each push: its commits when the event lists them, else its before..head range."""
        for event in events:
            if event.get("type") != "PushEvent":
                continue
            repo = str((event.get("repo") or {}).get("name", ""))
            payload = event.get("payload") or {}
            if not _REPO.match(repo):
                continue
            commits = [c.get("sha") for c in payload.get("commits") or [] if c.get("distinct", True)]
            commits = [sha for sha in commits if isinstance(sha, str) and _SHA.match(sha)]
            if commits:
                yield from ({"repo": repo, "sha": sha, "event": event["id"]} for sha in commits)
            elif _SHA.match(str(payload.get("head", ""))):
                before = str(payload.get("before", NO_COMMIT))
                yield {"repo": repo, "head": payload["head"], "before": before, "event": event["id"]}

    # --- commits ------------------------------------------------------------------------------
    def _range(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """The commits of a push that the event did not list (GitHub's newer, leaner push payloads)."""
        repo, head, before = item["repo"], item["head"], item["before"]
        if before == NO_COMMIT or not _SHA.match(before):
            return [{"repo": repo, "sha": head, "event": item["event"]}]
        compare = self.client.json(f"{self.api}/repos/{repo}/compare/{before}...{head}")
        shas = [c.get("sha") for c in compare.get("commits") or [] if isinstance(c, dict)]
        return [{"repo": repo, "sha": s, "event": item["event"]} for s in shas if _SHA.match(str(s))]

    def _commit(self, repo: str, sha: str) -> Iterator[Blob | Skipped]:
        url = f"{self.api}/repos/{repo}/commits/{sha}"
        response = self.client.get(url)
        commit = response.json()
        if not isinstance(commit, dict):
            raise SourceError(f"{url}: expected a commit")
        files = list(commit.get("files") or [])
        pages = 1
        while (following := response.links.get("next", {}).get("url")) and pages < MAX_FILE_PAGES:
            response, pages = self.client.get(following), pages + 1
            files.extend((response.json() or {}).get("files") or [])
        author = ((commit.get("commit") or {}).get("author")) or {}
        for entry in files:
            if not isinstance(entry, dict) or entry.get("status") == "removed" or not entry.get("filename"):
                continue
            path = str(entry["filename"])
            where = Provenance(
                KIND,
                path=path,
                repository=f"https://github.com/{repo}",
                commit=sha,
                author=author.get("name"),
                committed_at=parse_timestamp(author.get("date")),
                url=f"https://github.com/{repo}/blob/{sha}/{quote(path)}",
            )
            if isinstance(entry.get("patch"), str):
                yield Blob(new_side(entry["patch"]), where)
            elif _SHA.match(str(entry.get("sha", ""))):
                yield self._blob(repo, str(entry["sha"]), where)

    def _blob(self, repo: str, oid: str, where: Provenance) -> Blob | Skipped:
        """A file GitHub gave no patch for, read whole (base64 in the blobs API), within the size limit."""
        body = self.client.json(f"{self.api}/repos/{repo}/git/blobs/{oid}")
        size = int(body.get("size") or 0)
        if size > self.max_blob_bytes:
            return Skipped(where, f"{size} bytes, larger than the {self.max_blob_bytes} bytes read")
        try:
            return Blob(base64.b64decode(body.get("content") or "", validate=False), where)
        except (binascii.Error, ValueError):
            return Skipped(where, "the blobs API returned content that is not base64", damaged=True)

    # --- a poll -------------------------------------------------------------------------------
    def poll(self, state: dict[str, Any]) -> WatchPoll:
        state = {**state, "feeds": {k: dict(v) for k, v in (state.get("feeds") or {}).items()}}
        pending: list[dict[str, Any]] = list(state.get("pending") or [])
        waits, events = [], 0  # the next poll: as late as the slowest feed asks
        for feed in self.feeds:
            cursor = state["feeds"].setdefault(feed, {})
            try:
                fresh, asked = self._read_feed(feed, cursor)
            except Throttled as exc:
                waits.append(exc.wait)
                continue
            waits.append(asked)
            events += len(fresh)
            pending.extend(self._pushes(fresh))
        interval = max(waits, default=60.0)
        if len(pending) > self.max_pending:
            dropped = len(pending) - self.max_pending
            log.warning(
                "%s: %d pushed commit(s) dropped: more than the rate limit lets us read", KIND, dropped
            )
            pending = pending[dropped:]

        found: list[Blob | Skipped] = []
        commits = 0
        while pending:
            item = pending[0]
            try:
                if "head" in item:
                    pending[:1] = self._range(item)
                    continue
                found.extend(self._commit(item["repo"], item["sha"]))
                commits += 1
            except Throttled as exc:
                interval = max(interval, exc.wait)
                break  # the rest waits in the cursor
            except Exception as exc:  # a malformed answer for one item must not block the rest
                log.warning("%s: %s@%s not read: %s", KIND, item.get("repo"), item.get("sha", "?")[:12], exc)
            pending.pop(0)
        state["pending"] = pending
        report = scan_blobs(found) if found else None
        summary = f"{events} new event(s), {commits} commit(s) scanned, {len(pending)} waiting"
        return WatchPoll(report, interval, summary, state, items=commits)
