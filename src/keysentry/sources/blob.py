"""The unit that flows from sources to detection."""

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
    """Something a source chose not to scan, and why (always said, never silent)."""

    provenance: Provenance
    reason: str


@dataclass(frozen=True, slots=True)
class ScannedRepository:
    """A repository whose history a scan read: what a report says about version control (SARIF's
    ``versionControlProvenance``)."""

    name: str  # as locations name it (Provenance.repository)
    uri: str  # an absolute URI: its origin (credentials removed) or a file: URI of its folder
    revision: str | None  # the commit HEAD names, None in an empty repository
    branch: str | None = None  # HEAD's branch, None when detached
    root: str | None = (
        None  # a local repository's folder as a file: URI ending in "/" (not a temporary mirror)
    )
