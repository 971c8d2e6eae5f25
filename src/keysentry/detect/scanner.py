"""Run every rule over blobs and fold matches into one finding per credential."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from keysentry.detect.aws_keys import decode_account
from keysentry.detect.findings import Finding, Location, Match
from keysentry.detect.pairs import scan_rule
from keysentry.detect.rules import Rule, load_rules
from keysentry.sources.blob import Blob, Skipped


def scan_bytes(data: bytes, rules: Iterable[Rule] | None = None) -> list[Match]:
    """Every credential match in ``data``, in order of appearance."""
    matches: list[Match] = []
    for rule in rules if rules is not None else load_rules():
        matches.extend(scan_rule(rule, data))
    matches.sort(key=lambda m: (m.line, m.column))
    return matches


@dataclass
class ScanReport:
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    blobs_scanned: int = 0
    bytes_scanned: int = 0

    @property
    def credentials(self) -> list[Finding]:
        """Findings with both parts of a credential: what respond acts on."""
        return [f for f in self.findings if f.has_secret]


def scan_blobs(
    items: Iterable[Blob | Skipped],
    rules: Iterable[Rule] | None = None,
    on_blob: Callable[[Blob], None] | None = None,
) -> ScanReport:
    """Scan a stream of blobs; one finding per credential, with all its locations."""
    active = tuple(rules) if rules is not None else load_rules()
    report = ScanReport()
    by_identity: dict[tuple[str, str, str], Finding] = {}
    for item in items:
        if isinstance(item, Skipped):
            report.skipped.append(item)
            continue
        report.blobs_scanned += 1
        report.bytes_scanned += len(item.data)
        if on_blob is not None:
            on_blob(item)
        for match in scan_bytes(item.data, active):
            key = (match.credential_type, match.key_id, match.secret_fingerprint)
            finding = by_identity.get(key)
            if finding is None:
                finding = Finding(
                    rule_id=match.rule_id,
                    credential_type=match.credential_type,
                    key_id=match.key_id,
                    secret_fingerprint=match.secret_fingerprint,
                    account_id=decode_account(match.key_id),
                    suppressed=match.suppressed,
                )
                by_identity[key] = finding
                (report.suppressed if match.suppressed else report.findings).append(finding)
            location = Location(item.provenance, match.line, match.column)
            if location not in finding.locations:
                finding.locations.append(location)
    return report
