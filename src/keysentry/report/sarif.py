"""Scan reports as SARIF 2.1.0, the format GitHub code scanning (and most CI viewers) ingest.

Three choices shape this module:

* One SARIF result per *location*, not per finding.  Viewers annotate one
  place per result; a key pasted into three files must show up three times.
  The results of one credential share ``partialFingerprints["keysentry/v1"]``
  (the finding's fingerprint), which is also what a baseline lists.
* Nothing secret leaves: a result names the key ID, the account and the
  finding fingerprint.  The secret, and even its SHA-256, stay out.
* The output is a pure function of its inputs, sorted throughout and without
  timestamps, so that two runs over the same tree diff clean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from keysentry.detect.findings import Finding, Location
from keysentry.detect.rules import Rule
from keysentry.detect.scanner import ScanReport
from keysentry.sources.blob import Provenance, Skipped

SARIF_VERSION = "2.1.0"
# The schema's own "id": the OASIS 2.1.0 schema with the approved errata.
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "keysentry"
INFORMATION_URI = "https://github.com/keysentry/keysentry"
FINGERPRINT_KEY = "keysentry/v1"  # bump the suffix if Finding.fingerprint ever changes meaning

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub reads "security-severity" (a string, 0.0-10.0) to rank security alerts:
# >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, below that low.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
# "security" makes GitHub file results as security alerts; CWE-798 is "use of hard-coded credentials".
RULE_TAGS = ("security", "secret", "external/cwe/cwe-798")

DOCUMENTATION_EXAMPLE = "documentation example"
BASELINED = "listed in the baseline: a known credential, accepted or already handled"

# A path segment ending like this, followed by "!", names a member inside that archive.
_ARCHIVE = re.compile(r"\.(zip|jar|war|ear|aar|apk|whl|egg|nupkg|tar|tgz|tbz2|txz|gz|bz2|xz|7z)$", re.I)
_DRIVE = re.compile(r"^[A-Za-z]:/")
# Kept as is in a URI: sub-delimiters (incl. "!" for archive members), "/" and "@"; ":" is encoded
# so that a relative path like "a:b.env" cannot be read as a URI scheme.
_URI_SAFE = "/!$&'()*+,;=@"


def sarif_log(
    report: ScanReport,
    rules: Sequence[Rule],
    tool_version: str,
    baselined: Sequence[Finding] = (),
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: every live, suppressed and baselined finding, and what was skipped.

    ``baselined`` are findings that ``apply_baseline`` took out of the report; they are still
    written, with an external suppression, so that viewers close rather than forget them.
    """
    descriptors = _descriptors(rules, [*report.findings, *report.suppressed, *baselined])
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    results = [
        *_results(report.findings, index, None),
        *_results(report.suppressed, index, "inSource"),
        *_results(baselined, index, "external"),
    ]
    results.sort(key=_result_order)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "informationUri": INFORMATION_URI,
                        "version": tool_version,
                        "semanticVersion": tool_version,
                        "rules": descriptors,
                    }
                },
                "invocations": [_invocation(report)],
                "results": results,
            }
        ],
    }


# --- rules --------------------------------------------------------------------------------------
def _descriptors(rules: Sequence[Rule], findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Every rule, sorted by id, plus a stand-in for any finding whose rule was not passed in.

    The stand-in keeps ``ruleIndex`` valid and the result readable when the caller's rule set
    and the report disagree (a report scanned with a newer rule set, say).
    """
    by_id: dict[str, dict[str, Any]] = {
        r.id: _descriptor(r.id, r.description, r.credential_type, r.severity) for r in rules
    }
    for f in sorted(findings, key=lambda f: (f.rule_id, f.severity, f.credential_type)):  # order-free
        if f.rule_id not in by_id:
            by_id[f.rule_id] = _descriptor(
                f.rule_id, f"{f.credential_type} credential", f.credential_type, f.severity
            )
    return [by_id[rule_id] for rule_id in sorted(by_id)]


def _descriptor(rule_id: str, description: str, credential_type: str, severity: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": _pascal(rule_id),
        "shortDescription": {"text": description},
        "fullDescription": {
            "text": f"{description} ({credential_type}). keysentry reports the key ID, the account when "
            "it can be derived and a fingerprint of the finding; the secret itself is never written."
        },
        "defaultConfiguration": {"level": _level(severity)},
        "properties": {
            "tags": list(RULE_TAGS),
            "security-severity": SECURITY_SEVERITY.get(severity, SECURITY_SEVERITY["medium"]),
            "credentialType": credential_type,
            "severity": severity,
        },
    }


def _pascal(rule_id: str) -> str:
    """``aws-access-key`` → ``AwsAccessKey``: SARIF rule names are identifiers, ids are not."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", rule_id) if part)


def _level(severity: str) -> str:
    """Unknown severities (a newer engine, a hand-built finding) count as medium, not as silence."""
    return LEVELS.get(severity, "warning")


# --- results ------------------------------------------------------------------------------------
def _results(
    findings: Iterable[Finding], index: dict[str, int], suppression: str | None
) -> Iterable[dict[str, Any]]:
    for finding in findings:
        for location in finding.locations:
            yield _result(finding, location, index[finding.rule_id], suppression)


def _result(finding: Finding, loc: Location, rule_index: int, suppression: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _level(finding.severity),
        "message": {"text": _message(finding, loc)},
        "locations": [_location(loc)],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": _result_properties(finding, loc),
    }
    if suppression == "inSource":
        reason = finding.suppressed or DOCUMENTATION_EXAMPLE
        result["suppressions"] = [{"kind": "inSource", "status": "accepted", "justification": reason}]
    elif suppression == "external":
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": BASELINED}]
    return result


def _message(finding: Finding, loc: Location) -> str:
    """What a reviewer reads first: which key, whose account, and whether the secret is with it."""
    verb = f"Ignored ({finding.suppressed})" if finding.suppressed else "Exposed"
    text = f"{verb} {finding.credential_type} credential: key ID {finding.key_id}"
    if finding.account_id:
        text += f" (account {finding.account_id})"
    if finding.has_secret:
        text += ", with its secret next to it (not shown)."
    else:
        text += ", without a secret nearby."
    if loc.decoding:
        text += f" Found after {loc.decoding} decoding."
    return text


def _location(loc: Location) -> dict[str, Any]:
    artifact: dict[str, Any] = {"uri": artifact_uri(_where(loc.provenance))}
    member = archive_member(loc.provenance.path)
    if member is not None:
        artifact["properties"] = {"archive": member[0], "member": member[1]}
    return {
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": {"startLine": max(loc.line, 1), "startColumn": max(loc.column, 1)},
        }
    }


def _result_properties(finding: Finding, loc: Location) -> dict[str, Any]:
    p = loc.provenance
    props: dict[str, Any] = {
        "keyId": finding.key_id,
        "credentialType": finding.credential_type,
        "hasSecret": finding.has_secret,
        "severity": finding.severity,
        "sourceKind": p.kind,
    }
    optional = {
        "accountId": finding.account_id,
        "decoding": loc.decoding,
        "repository": p.repository,
        "commit": p.commit,
        "author": p.author,
        "committedAt": iso8601(p.committed_at),
        # A file:// URL only repeats the path, with this machine's directories in front.
        "url": p.url if p.url and not p.url.startswith("file:") else None,
    }
    props.update({k: v for k, v in optional.items() if v is not None})
    return props


def _result_order(result: dict[str, Any]) -> tuple[str, int, int, str, str, str, str]:
    region = result["locations"][0]["physicalLocation"]["region"]
    props = result["properties"]
    return (
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        region["startLine"],
        region["startColumn"],
        result["ruleId"],
        result["partialFingerprints"][FINGERPRINT_KEY],
        props.get("commit", ""),
        props.get("decoding", ""),
    )


# --- invocation ---------------------------------------------------------------------------------
def _invocation(report: ScanReport) -> dict[str, Any]:
    """Skipped files are tool notifications: not findings, but never silent either."""
    return {
        "executionSuccessful": True,
        "toolExecutionNotifications": [
            _skipped(s) for s in sorted(report.skipped, key=lambda s: (_where(s.provenance), s.reason))
        ],
        "properties": {"blobsScanned": report.blobs_scanned, "bytesScanned": report.bytes_scanned},
    }


def _skipped(skipped: Skipped) -> dict[str, Any]:
    return {
        "level": "note",
        "message": {"text": f"skipped {skipped.provenance.describe()}: {skipped.reason}"},
        "locations": [
            {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(_where(skipped.provenance))}}}
        ],
        "properties": {"reason": skipped.reason, "sourceKind": skipped.provenance.kind},
    }


# --- small helpers ------------------------------------------------------------------------------
def _where(p: Provenance) -> str:
    return p.path or p.url or p.kind


def artifact_uri(path: str) -> str:
    """A path as a SARIF ``uri``: ``/`` separators, percent-encoded, absolute paths as ``file:`` URIs.

    Relative paths stay relative (GitHub resolves them against the repository root); ``!`` is
    kept so an archive member reads ``bundle.zip!config/app.env``.  A value that already is a
    URL (a source without a path) is passed through.
    """
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", path):
        return path
    path = path.replace("\\", "/")
    if _DRIVE.match(path):
        return "file:///" + path[:2] + quote(path[2:], safe=_URI_SAFE)
    if path.startswith("/"):
        return "file://" + quote(path, safe=_URI_SAFE)
    return quote(path, safe=_URI_SAFE)


def archive_member(path: str | None) -> tuple[str, str] | None:
    """``a.zip!b/c.env`` → ``("a.zip", "b/c.env")``; nested archives keep their chain in the first part.

    Only a ``!`` after an archive-like name counts: ``!`` is legal in ordinary file names.
    """
    if not path or "!" not in path:
        return None
    *outer, member = path.replace("\\", "/").split("!")
    if not member or not all(_ARCHIVE.search(part) for part in outer):
        return None
    return "!".join(outer), member


def iso8601(t: datetime | None) -> str | None:
    """ISO 8601 with an explicit offset; a naive time is taken as UTC (git times are never naive)."""
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()
