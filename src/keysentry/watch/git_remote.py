"""Watch a git repository (a clone URL or a path): keep a bare mirror, fetch, and scan only the objects
that the new tips bring (``rev-list --objects <new tips> --not <old tips>``).  The first poll scans the
whole history: all of it is new to us."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from keysentry.detect.scanner import ScanReport
from keysentry.errors import SourceError
from keysentry.scanning import ScanOptions, scan_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Poll:
    new_tips: int
    report: ScanReport | None  # None when nothing changed


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise SourceError(f"git {args[0]} failed: {done.stderr.strip()[-300:]}")
    return done.stdout


class RepositoryWatch:
    def __init__(self, source: str, state_dir: Path, options: ScanOptions | None = None) -> None:
        self.source = source
        self.options = options or ScanOptions()
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        self.mirror = state_dir / "mirrors" / f"{digest}.git"

    def _tips(self) -> set[str]:
        out = _git("--git-dir", str(self.mirror), "for-each-ref", "--format=%(objectname)")
        return {line for line in out.split() if line}

    def poll(self) -> Poll:
        """Fetch, and scan what the fetch brought."""
        if not self.mirror.exists():
            self.mirror.parent.mkdir(parents=True, exist_ok=True)
            _git("clone", "--mirror", "--quiet", self.source, str(self.mirror))
            old: set[str] = set()
        else:
            old = self._tips()
            _git("--git-dir", str(self.mirror), "fetch", "--prune", "--quiet")
        new = self._tips() - old
        if not new:
            return Poll(0, None)
        revisions = (*sorted(new), "--not", *sorted(old)) if old else ("--all",)
        report = scan_targets([str(self.mirror)], replace(self.options, git_revisions=revisions))
        log.info("%s: %d new tip(s), %d blob(s) scanned", self.source, len(new), report.blobs_scanned)
        return Poll(len(new), report)
