"""Detection: bytes in, credential findings out.  Talks to nothing outside the process.

Library use::

    from keysentry.detect import scan_bytes, scan_blobs
    matches = scan_bytes(b"aws_access_key_id = AKIA...")
    report = scan_blobs(blobs)           # blobs from keysentry.sources
    for finding in report.findings: ...

A finding carries the key ID, the SHA-256 fingerprint of its secret, the
account decoded offline from the ID, and every place it was seen.  It never
carries the secret.
"""

from __future__ import annotations

from keysentry.detect.findings import Finding, Location, Match
from keysentry.detect.rules import Rule, load_rules
from keysentry.detect.scanner import ScanReport, scan_blobs, scan_bytes

__all__ = [
    "Finding",
    "Location",
    "Match",
    "Rule",
    "ScanReport",
    "load_rules",
    "scan_blobs",
    "scan_bytes",
]
