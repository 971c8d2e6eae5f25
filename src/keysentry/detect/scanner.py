"""Run the engine over blobs and fold matches into one finding per credential."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from keysentry.content import Blob, Provenance, ScannedRepository, Skipped
from keysentry.detect.aws_keys import canary, decode_account
from keysentry.detect.documentation import GENERIC_REASON, documentation_file
from keysentry.detect.engine import Engine
from keysentry.detect.findings import Finding, Held, Location, Match
from keysentry.detect.rules import CONFIDENCE_RANK, Rule, catch_all_rule_ids, load_rules

_ENGINES: dict[tuple[str, ...], Engine] = {}
_BUNDLED = ("bundled",)


def engine_for(rules: Iterable[Rule] | None = None) -> Engine:
    """The compiled engine for these rules (all bundled rules by default), built once per process."""
    if rules is None:  # the common case, once per blob: no work before the lookup
        engine = _ENGINES.get(_BUNDLED)
        if engine is None:
            engine = _ENGINES[_BUNDLED] = Engine(load_rules())
        return engine
    chosen = tuple(rules)
    key = tuple(r.model_dump_json() for r in chosen)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = Engine(chosen)
    return engine


def scan_bytes(data: bytes, rules: Iterable[Rule] | None = None) -> list[Match]:
    """Every credential match in ``data``, in order of appearance."""
    matches = engine_for(rules).scan(data)
    matches.sort(key=lambda m: (m.line, m.column))
    return matches


@dataclass
class ScanReport:
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    blobs_scanned: int = 0
    bytes_scanned: int = 0
    repositories: list[ScannedRepository] = field(default_factory=list)  # histories read
    excluded: int = 0  # findings left out by --exclude or a .keysentryignore (keysentry.report.ignore)
    below_min_confidence: int = 0  # findings left out by --min-confidence (keysentry.report.confidence)
    # Secrets their issuer can revoke, held in memory for the responder (never written anywhere).
    held: list[Held] = field(default_factory=list, repr=False)

    def with_findings(
        self, findings: Iterable[Finding], suppressed: Iterable[Finding] | None = None, **changes: Any
    ) -> ScanReport:
        """A copy with these findings (and ignored examples): the lists are new, the findings shared."""
        return replace(
            self,
            findings=list(findings),
            suppressed=list(self.suppressed if suppressed is None else suppressed),
            skipped=list(self.skipped),
            **changes,
        )

    @property
    def damaged(self) -> list[Skipped]:
        """What could not be read at all: while any is, the scan is incomplete."""
        return [s for s in self.skipped if s.damaged]

    @property
    def incomplete(self) -> bool:
        return bool(self.damaged)

    @property
    def credentials(self) -> list[Finding]:
        """Findings with both parts of a credential: what respond acts on."""
        return [f for f in self.findings if f.has_secret]


class FindingFolder:
    """Collects matches from many blobs into one finding per credential, with every location."""

    def __init__(self) -> None:
        self.by_identity: dict[tuple[str, str, str], Finding] = {}

    def add(self, provenance: Provenance, matches: Iterable[Match]) -> None:
        documentation = documentation_file(provenance.path)
        for match in sorted(matches, key=lambda m: (m.line, m.column)):
            if documentation and match.suppressed is None and match.rule_id in catch_all_rule_ids():
                match = replace(match, suppressed=GENERIC_REASON)
            key = (match.credential_type, match.key_id, match.secret_fingerprint)
            finding = self.by_identity.get(key)
            if finding is None:
                account = decode_account(match.key_id) if match.credential_type == "aws_access_key" else None
                finding = self.by_identity[key] = Finding(
                    rule_id=match.rule_id,
                    credential_type=match.credential_type,
                    key_id=match.key_id,
                    secret_fingerprint=match.secret_fingerprint,
                    account_id=account,
                    suppressed=match.suppressed,
                    severity=match.severity,
                    canary=canary(account),
                    token_fingerprint=match.token_fingerprint,
                    live=match.live,
                    kind=match.kind,
                    confidence=match.confidence,
                    confidence_reason=match.confidence_reason,
                )
            elif CONFIDENCE_RANK[match.confidence] > CONFIDENCE_RANK[finding.confidence]:
                finding.confidence, finding.confidence_reason = match.confidence, match.confidence_reason
            if match.token_fingerprint and not finding.token_fingerprint:
                finding.token_fingerprint = match.token_fingerprint
            if match.live and finding.live in (None, "unknown"):
                finding.live = match.live
            location = Location(
                provenance, match.line, match.column, match.decoding, match.end_line, match.end_column
            )
            if location not in finding.locations:
                finding.locations.append(location)

    def into(self, report: ScanReport) -> ScanReport:
        for finding in self.by_identity.values():
            (report.suppressed if finding.suppressed else report.findings).append(finding)
        return report


def scan_blobs(
    items: Iterable[Blob | Skipped],
    rules: Iterable[Rule] | None = None,
    on_blob: Callable[[Blob], None] | None = None,
) -> ScanReport:
    """Scan blobs already in memory (no archives, no processes): the simplest library entry point."""
    engine = engine_for(rules)
    report = ScanReport()
    folder = FindingFolder()
    for item in items:
        if isinstance(item, Skipped):
            report.skipped.append(item)
            continue
        report.blobs_scanned += 1
        report.bytes_scanned += len(item.data)
        if on_blob is not None:
            on_blob(item)
        folder.add(item.provenance, engine.scan(item.data, hold=report.held.append))
    return folder.into(report)
