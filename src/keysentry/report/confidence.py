"""Which findings a report shows: at or above a minimum confidence, the most severe and surest first.

Confidence says how sure keysentry is that a finding is a real credential (``high``: a self-identifying
format whose checksum or structure holds, or a verified pair; ``medium``: a typed rule with no
structural check; ``low``: generic, malformed, or failing its format's checksum).  A finding below the
minimum is left out of the findings and the exit code, never silently: the report counts it."""

from __future__ import annotations

from enum import StrEnum

from keysentry.detect.findings import Finding
from keysentry.detect.rules import CONFIDENCE_RANK
from keysentry.detect.scanner import ScanReport

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}


class MinConfidence(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


def ordered(findings: list[Finding]) -> list[Finding]:
    """By severity, then confidence (most first); otherwise in the order they were found."""
    return sorted(
        findings,
        key=lambda f: (-SEVERITY_RANK.get(f.severity, 2), -CONFIDENCE_RANK.get(f.confidence, 2)),
    )


def apply_min_confidence(report: ScanReport, minimum: str) -> tuple[ScanReport, list[Finding]]:
    """A copy of ``report`` with the findings at or above ``minimum``, ordered; and those below it."""
    floor = CONFIDENCE_RANK[minimum]
    kept = [f for f in report.findings if CONFIDENCE_RANK.get(f.confidence, 2) >= floor]
    below = [f for f in report.findings if CONFIDENCE_RANK.get(f.confidence, 2) < floor]
    filtered = report.with_findings(
        ordered(kept), below_min_confidence=report.below_min_confidence + len(below)
    )
    return filtered, ordered(below)
