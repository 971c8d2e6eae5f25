"""What a team has chosen to leave out of a scan: ``--exclude`` globs and ``.keysentryignore`` files.

A ``.keysentryignore`` in a scanned folder or repository holds one entry a line (blank lines and ``#``
comments are skipped, also after an entry):

* a finding's fingerprint (the 32 hex characters of ``fingerprint`` in JSON Lines): that credential,
  wherever it is;
* otherwise a glob over the path as keysentry reports it (relative to the scanned folder or
  repository; ``*`` crosses ``/``): ``tests/fixtures/`` (a trailing ``/``: everything under that
  folder), ``*.env`` (no ``/``: that file name at any depth), ``docs/**/*.md``.

The scan still reads everything; what is left out is counted (``excluded`` in the JSON Lines
summary, and on the text output's last line), never dropped in silence, and is not counted in the
exit code.  Unlike the baseline, which hides credentials that are known, this says where not to look.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from keysentry.detect.findings import Finding, Location
from keysentry.detect.scanner import ScanReport
from keysentry.errors import KeysentryError

IGNORE_FILE = ".keysentryignore"
_FINGERPRINT = re.compile(r"^[0-9a-f]{32}$")


class IgnoreError(KeysentryError):
    """An ignore file cannot be read."""


@dataclass(frozen=True)
class Ignores:
    globs: tuple[str, ...] = ()
    fingerprints: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()  # rule ids turned off ([scan] disable_rules in keysentry.toml)

    def __bool__(self) -> bool:
        return bool(self.globs or self.fingerprints or self.rules)

    def __or__(self, other: Ignores) -> Ignores:
        return Ignores(
            self.globs + other.globs, self.fingerprints | other.fingerprints, self.rules | other.rules
        )

    def leaves_out(self, loc: Location) -> bool:
        path = (loc.provenance.path or "").replace("\\", "/").removeprefix("./")
        if not path:
            return False
        name = path.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
        for glob in self.globs:
            if glob.endswith("/"):
                if path.startswith(glob) or f"/{glob}" in f"/{path}":
                    return True
            elif "/" not in glob.rstrip("/"):
                if fnmatchcase(name, glob) or fnmatchcase(path, glob):
                    return True
            elif fnmatchcase(path, glob.removeprefix("/")):
                return True
        return False


def parse_ignores(text: str) -> Ignores:
    globs: list[str] = []
    fingerprints: set[str] = set()
    for raw in text.splitlines():
        entry = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not entry:
            continue
        if _FINGERPRINT.match(entry):
            fingerprints.add(entry)
        else:
            globs.append(entry)
    return Ignores(tuple(globs), frozenset(fingerprints))


def ignore_file_of(target: str) -> Ignores:
    """The ``.keysentryignore`` of a scanned folder or repository (none for files, URLs, stdin)."""
    path = Path(target) / IGNORE_FILE
    if target == "-" or not Path(target).is_dir() or not (path.exists() or path.is_symlink()):
        return Ignores()
    try:
        return parse_ignores(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise IgnoreError(f"{path}: cannot be read as an ignore file ({exc})") from exc


def apply_ignores(report: ScanReport, ignores: Ignores) -> tuple[ScanReport, int]:
    """A copy of ``report`` without what ``ignores`` leaves out, and how many findings that took out
    entirely (a finding also seen elsewhere keeps its other places)."""
    if not ignores:
        return report, 0

    def keep(findings: list[Finding]) -> tuple[list[Finding], int]:
        kept, gone = [], 0
        for f in findings:
            if f.fingerprint in ignores.fingerprints or f.rule_id in ignores.rules:
                gone += 1
                continue
            places = [loc for loc in f.locations if not ignores.leaves_out(loc)]
            if f.locations and not places:
                gone += 1
                continue
            kept.append(dataclasses.replace(f, locations=places) if len(places) != len(f.locations) else f)
        return kept, gone

    findings, excluded = keep(report.findings)
    suppressed, _ = keep(report.suppressed)
    return report.with_findings(findings, suppressed, excluded=report.excluded + excluded), excluded
