"""Accept reports: scan what was reported in memory, record what it reveals, keep the report (by hash
only), and say whether it held a real credential (GitHub's partner feedback; the report API's answer).

Tokens reported for the same URL are scanned together, so that an access key ID and its secret that
GitHub reports as two tokens are paired as they would be in the file.  Everything is committed before
the caller answers GitHub: an accepted report is never lost.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from keysentry.content import Provenance
from keysentry.detect.findings import Finding, Match
from keysentry.detect.scanner import FindingFolder, ScanReport, engine_for
from keysentry.intake.formats import Reported, Segment
from keysentry.intake.github_partner import PartnerReport
from keysentry.respond.responder import Responder
from keysentry.store.reports import keep_reports

CHANNEL = "github-partner"
TRUE_POSITIVE, FALSE_POSITIVE = "true_positive", "false_positive"
_GITHUB_BLOB = re.compile(r"^https://github\.com/([^/]+/[^/]+)/blob/([0-9a-f]{40})/(.+)$")


def provenance_of(url: str | None, source: str) -> Provenance:
    """Where GitHub saw it: repository, commit and path when the URL is a blob URL."""
    found = _GITHUB_BLOB.match(url or "")
    if found:
        repository, commit, path = found.groups()
        return Provenance(
            "github", path=path, repository=f"https://github.com/{repository}", commit=commit, url=url
        )
    return Provenance("github", path=f"<{source}>", url=url)


def _belongs(report: PartnerReport, finding: Finding) -> bool:
    return finding.key_id in report.token or finding.secret_fingerprint == report.token_hash


@dataclass
class RecordedText:
    """What one reported text held, once recorded: the credentials, and the exposure of each."""

    found: ScanReport
    exposure_of: dict[tuple[str, str, str], int]

    @property
    def usable(self) -> list[Finding]:
        """Credentials with their secret: what can be contained."""
        return [f for f in self.found.findings if f.has_secret]


def record_text(responder: Responder, text: bytes, provenance: Provenance) -> RecordedText:
    """Scan ``text`` in memory and record every finding (each durable once this returns)."""
    found = ScanReport()
    folder = FindingFolder()
    folder.add(provenance, engine_for().scan(text, hold=found.held.append))
    return _record(responder, folder, found)


def record_segments(responder: Responder, placed: list[tuple[Segment, Provenance]]) -> RecordedText:
    """Scan the segments together in memory (so that a key ID and its secret in two of them are
    paired) and record every finding at the segment it was seen in: the segment's provenance, and the
    line and column its scanner gave."""
    starts = [1]  # the line of the joined text each segment begins on
    for segment, _ in placed:
        starts.append(starts[-1] + segment.text.count(b"\n") + 1)
    found = ScanReport()
    by_segment: dict[int, list[Match]] = defaultdict(list)
    joined = b"\n".join(segment.text for segment, _ in placed)
    for match in engine_for().scan(joined, hold=found.held.append):
        k = bisect.bisect_right(starts, match.line) - 1
        by_segment[k].append(_relocated(match, starts[k], placed[k][0]))
    folder = FindingFolder()
    for k, matches in sorted(by_segment.items()):
        folder.add(placed[k][1], matches)
    return _record(responder, folder, found)


def _relocated(match: Match, start: int, segment: Segment) -> Match:
    """``match`` with the line (and, on the segment's first line, the column) of the scanned file."""
    first = segment.line or 1
    line = match.line - start + first
    end_line = match.end_line - start + first if match.end_line else 0
    column, end_column = match.column, match.end_column
    if segment.column and match.line == start:
        column += segment.column - 1
        if end_line == line:
            end_column += segment.column - 1
    return replace(match, line=line, column=column, end_line=end_line, end_column=end_column)


def _record(responder: Responder, folder: FindingFolder, found: ScanReport) -> RecordedText:
    folder.into(found)
    exposure_of: dict[tuple[str, str, str], int] = {}
    for finding in found.findings + found.suppressed:
        recorded = responder.record([finding], found.held)
        if recorded:
            exposure_of[finding.identity()] = recorded[0]
    return RecordedText(found, exposure_of)


def _keep(responder: Responder, rows: list[dict[str, Any]]) -> None:
    """The reports themselves (hashes only), committed before the caller answers."""
    keep_reports(responder.store, rows)


def accept_github_batch(responder: Responder, reports: list[PartnerReport]) -> list[dict[str, Any]]:
    """Record what the batch reveals and keep each report; the feedback GitHub's protocol defines."""
    by_url: dict[tuple[str | None, str], list[PartnerReport]] = defaultdict(list)
    for report in reports:
        by_url[(report.url, report.source)].append(report)
    labelled: list[tuple[PartnerReport, str, int | None]] = []
    for (url, source), group in by_url.items():
        text = "\n".join(r.token for r in group).encode()
        got = record_text(responder, text, provenance_of(url, source))
        for report in group:
            mine = [f for f in got.usable if _belongs(report, f)]
            label = TRUE_POSITIVE if mine else FALSE_POSITIVE
            labelled.append((report, label, got.exposure_of.get(mine[0].identity()) if mine else None))
    _keep(
        responder,
        [
            {
                "channel": CHANNEL,
                "token_type": r.type,
                "token_hash": r.token_hash,
                "url": r.url,
                "source": r.source,
                "label": label,
                "exposure_id": exposure_id,
            }
            for r, label, exposure_id in labelled
        ],
    )
    return [{"token_hash": r.token_hash, "token_type": r.type, "label": label} for r, label, _ in labelled]


def _holds(item: Reported, finding: Finding) -> bool:
    """Whether this item reported (part of) this credential: its key ID, or its secret."""
    if finding.key_id and finding.key_id.encode() in item.text:
        return True
    words = re.split(rb"[\s=:\"',;]+", item.text)
    return any(hashlib.sha256(w).hexdigest() == finding.secret_fingerprint for w in words if w)


def _answer(item: Reported, index: int, got: RecordedText) -> dict[str, Any]:
    """What became of one item: the exposures it led to, or why none."""
    mine = [f for f in got.found.findings + got.found.suppressed if _holds(item, f)]
    recorded = sorted({got.exposure_of[f.identity()] for f in mine if f.identity() in got.exposure_of})
    reason = None
    if not recorded:
        if item.unscannable:
            reason = item.unscannable
        elif any(f.suppressed for f in mine):
            reason = "example key: " + next(str(f.suppressed) for f in mine if f.suppressed)
        else:
            reason = "no credential recognised"
    return {
        "index": index,
        "detector": item.detector,
        "where": item.provenance.describe(),
        "exposures": recorded,
        "reason": reason,
    }


def accept_report(responder: Responder, items: list[Reported], reporter: str) -> dict[str, Any]:
    """Record what a report from another scanner (or a person) reveals; keep each item by hash.  The
    answer says, item by item, which exposures it led to, or why none."""
    groups: dict[tuple[str | None, ...], list[int]] = defaultdict(list)
    for n, item in enumerate(items):
        groups[item.place].append(n)
    answers: list[dict[str, Any]] = [{} for _ in items]
    credentials: dict[int, dict[str, Any]] = {}
    for indexes in groups.values():
        placed = [(segment, items[n].provenance) for n in indexes for segment in items[n].segments]
        got = record_segments(responder, placed)
        for finding in got.found.findings:
            if finding.identity() in got.exposure_of:
                exposure_id = got.exposure_of[finding.identity()]
                credentials.setdefault(
                    exposure_id,
                    {
                        "key_id": finding.key_id,
                        "credential_type": finding.credential_type,
                        "exposure_id": exposure_id,
                    },
                )
        for n in indexes:
            answers[n] = _answer(items[n], n, got)
    rows = [
        {
            "channel": f"api:{reporter}"[:32],
            "token_type": item.detector[:128],
            "token_hash": hashlib.sha256(item.text).hexdigest(),
            "url": item.provenance.url,
            "source": item.provenance.path,
            "label": TRUE_POSITIVE if answer["exposures"] else FALSE_POSITIVE,
            "exposure_id": answer["exposures"][0] if answer["exposures"] else None,
        }
        for item, answer in zip(items, answers, strict=True)
    ]
    _keep(responder, rows)
    return {
        "accepted": len(items),
        "credentials": list(credentials.values()),
        "without_a_usable_credential": sum(1 for a in answers if not a["exposures"]),
        "items": answers,
    }
