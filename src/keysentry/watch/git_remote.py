"""Watch a git repository (a clone URL or a path): keep a bare mirror, fetch, and scan only the objects
that the new tips bring (``rev-list --objects <new tips> --not <old tips>``).  The first poll scans the
whole history: all of it is new to us."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from keysentry.errors import SourceError
from keysentry.scan.pipeline import ScanOptions, scan_targets
from keysentry.sources.git import mark_mirror, without_credentials, without_credentials_in
from keysentry.sources.git_command import run_git
from keysentry.watch.base import WatchPoll

log = logging.getLogger(__name__)
KIND = "git"


def _git(*args: str, git_dir: Path | None = None, input: str | None = None) -> str:
    done = run_git(*args, git_dir=git_dir, input=input.encode() if input else None, timeout=600)
    if done.returncode != 0 and input is None:
        message = without_credentials_in(done.stderr.decode(errors="replace").strip())[-300:]
        raise SourceError(f"git {args[0]} failed: {message}")
    return done.stdout.decode(errors="replace")


class RepositoryWatch:
    def __init__(
        self, source: str, state_dir: Path, options: ScanOptions | None = None, interval: float = 60.0
    ) -> None:
        self.source = source
        self.name = f"{KIND}:{without_credentials(source)}"  # shown in logs and metrics
        self.interval = interval
        self.options = options or ScanOptions()
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        self.mirror = state_dir / "mirrors" / f"{digest}.git"

    def _tips(self) -> set[str]:
        out = _git("for-each-ref", "--format=%(objectname)", git_dir=self.mirror)
        return {line for line in out.split() if line}

    def _existing(self, commits: set[str]) -> set[str]:
        """Those of ``commits`` the mirror still holds (a force push and a gc can remove them)."""
        listing = "\n".join(sorted(commits)) + "\n"
        out = _git(
            "cat-file", "--batch-check=%(objectname) %(objecttype)", git_dir=self.mirror, input=listing
        )
        return {line.split()[0] for line in out.splitlines() if line.endswith(" commit")}

    def poll(self, state: dict[str, Any] | None = None) -> WatchPoll:
        """Fetch, and scan what the fetch brought since the tips in ``state`` (the tips scanned last
        time, saved only once their findings were recorded), or since the mirror's tips without one."""
        if not self.mirror.exists():
            self.mirror.parent.mkdir(parents=True, exist_ok=True)
            _git("clone", "--mirror", "--quiet", "--", self.source, str(self.mirror))
            old: set[str] = set(state.get("tips") or []) if state else set()
        else:
            old = set(state["tips"]) if state and "tips" in state else self._tips()
            _git("fetch", "--prune", "--quiet", "--", "origin", git_dir=self.mirror)
        mark_mirror(self.mirror, self.source)  # reports name the source (older mirrors lack the mark)
        old = self._existing(old) if old else old
        tips = self._tips()
        new = tips - old
        if not new:
            return WatchPoll(None, self.interval, "nothing new", {"tips": sorted(tips)})
        revisions = (*sorted(new), "--not", *sorted(old)) if old else ("--all",)
        report = scan_targets([str(self.mirror)], replace(self.options, git_revisions=revisions))
        summary = f"{len(new)} new tip(s), {report.blobs_scanned} blob(s) scanned"
        return WatchPoll(report, self.interval, summary, {"tips": sorted(tips)}, items=len(new))
