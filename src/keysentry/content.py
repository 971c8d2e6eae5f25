"""What flows from sources to detection: blobs (bytes and where they came from), what could not be read,
and how bytes are told apart as text.  Neither I/O nor detection: both sides import it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where some bytes were found.  Every field but ``kind`` is optional."""

    kind: str  # "file", "git", "stdin", "report"
    path: str | None = None
    repository: str | None = None
    commit: str | None = None
    author: str | None = None
    committed_at: datetime | None = None
    url: str | None = None
    blob: str | None = None  # git object ID, for content read from a repository
    # For a place in git history: whether the file is still there at HEAD (None: not asked, not git).
    at_head: bool | None = None
    origin: str | None = (
        None  # a local clone's origin URL (credentials removed); ``repository`` is the folder
    )

    def describe(self) -> str:
        """One line a person can read: ``repo@abc1234:path`` or the path."""
        where = self.path or self.url or self.kind
        if self.commit:
            repo = self.repository or ""
            return f"{repo}@{self.commit[:12]}:{where}"
        return where


@dataclass(frozen=True, slots=True)
class Blob:
    data: bytes
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something a source did not scan, and why (always said, never silent).  ``damaged``: it could not be
    read at all (a missing or corrupt git object, a truncated archive, a file that cannot be read), so
    the scan that met it is incomplete; otherwise it was left out on purpose (binary, over a limit)."""

    provenance: Provenance
    reason: str
    damaged: bool = False


@dataclass(frozen=True, slots=True)
class ScannedRepository:
    """A repository whose history a scan read: what a report says about version control (SARIF's
    ``versionControlProvenance``)."""

    name: str  # as locations name it (Provenance.repository)
    uri: str  # an absolute URI: its origin (credentials removed) or a file: URI of its folder (SARIF)
    revision: str | None  # the commit HEAD names, None in an empty repository
    branch: str | None = None  # HEAD's branch, None when detached
    root: str | None = (
        None  # a local repository's folder as a file: URI ending in "/" (not a temporary mirror)
    )
    origin: str | None = None  # a local clone's origin URL, credentials removed


def looks_utf16(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' for UTF-16 text: a BOM, or ASCII with every other byte NUL."""
    if head[:2] == b"\xff\xfe":
        return "utf-16-le"
    if head[:2] == b"\xfe\xff":
        return "utf-16-be"
    sample = head[:512]
    sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 8:
        return None
    evens, odds = sample[0::2], sample[1::2]
    if odds.count(0) >= 0.9 * len(odds) and evens.count(0) == 0:
        return "utf-16-le"
    if evens.count(0) >= 0.9 * len(evens) and odds.count(0) == 0:
        return "utf-16-be"
    return None
