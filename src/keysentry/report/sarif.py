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

What GitHub code scanning requires is always there (checked in CI by Microsoft's SARIF Multitool with its
GitHub rules): every rule has ``help`` (text and Markdown), ``helpUri``, ``security-severity`` and tags;
every result has a full region (start and end line and column, columns in characters) and
``primaryLocationLineHash``; a scan of git history names each repository and its HEAD in
``versionControlProvenance``, and a finding in a file that is no longer at HEAD says so, with its
commit, in the message and in the location's properties.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from keysentry.content import Provenance, ScannedRepository, Skipped
from keysentry.detect.findings import Finding, Location
from keysentry.detect.rules import Rule
from keysentry.detect.scanner import ScanReport

SARIF_VERSION = "2.1.0"
# The schema's own "id": the OASIS 2.1.0 schema with the approved errata.
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "keysentry"
INFORMATION_URI = "https://github.com/keysentry/keysentry"
RULES_URI = f"{INFORMATION_URI}/blob/main/src/keysentry/detect/rules"
RULES_DOC_URI = f"{INFORMATION_URI}/blob/main/docs/rules.md"
FINGERPRINT_KEY = "keysentry/v1"  # bump the suffix if Finding.fingerprint ever changes meaning
LINE_HASH_KEY = "primaryLocationLineHash"  # what GitHub matches alerts on from one run to the next

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub reads "security-severity" (a string, 0.0-10.0) to rank security alerts:
# >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, below that low.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
# SARIF's result "rank" (0.0-100.0, higher first) carries the finding's confidence.
RANKS = {"high": 90.0, "medium": 60.0, "low": 30.0}
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
    bases = _base_ids(report.repositories)
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    results = [
        *_results(report.findings, index, None, bases),
        *_results(report.suppressed, index, "inSource", bases),
        *_results(baselined, index, "external", bases),
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
                "columnKind": "unicodeCodePoints",
                **_version_control(report.repositories, bases),
                "results": results,
            }
        ],
    }


def _base_ids(repositories: Sequence[ScannedRepository]) -> dict[str, str]:
    """Each scanned repository's uriBaseId, by the name its locations carry."""
    ordered = sorted(repositories, key=lambda r: r.uri)
    return {repo.name: "SRCROOT" if n == 1 else f"SRCROOT{n}" for n, repo in enumerate(ordered, 1)}


def _version_control(repositories: Sequence[ScannedRepository], bases: dict[str, str]) -> dict[str, Any]:
    """``versionControlProvenance`` for the histories read: each repository, the commit at HEAD, and
    the base its paths are relative to (``SRCROOT``, ``SRCROOT2`` …; defined in
    ``originalUriBaseIds`` where the repository is a local folder)."""
    details: list[dict[str, Any]] = []
    roots: dict[str, dict[str, str]] = {}
    for repo in sorted(repositories, key=lambda r: r.uri):
        base = bases[repo.name]
        entry: dict[str, Any] = {"repositoryUri": repo.uri, "mappedTo": {"uriBaseId": base}}
        if repo.revision:
            entry["revisionId"] = repo.revision
        if repo.branch:
            entry["branch"] = repo.branch
        details.append(entry)
        if repo.root:
            roots[base] = {"uri": repo.root}
    if not details:
        return {}
    return {"versionControlProvenance": details, **({"originalUriBaseIds": roots} if roots else {})}


# --- rules --------------------------------------------------------------------------------------
def _descriptors(rules: Sequence[Rule], findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Every rule, sorted by id, plus a stand-in for any finding whose rule was not passed in.

    The stand-in keeps ``ruleIndex`` valid and the result readable when the caller's rule set
    and the report disagree (a report scanned with a newer rule set, say).
    """
    by_id: dict[str, dict[str, Any]] = {
        r.id: _descriptor(r.id, r.description, r.credential_type, r.severity, f"{RULES_URI}/{r.id}.toml")
        for r in rules
    }
    for f in sorted(findings, key=lambda f: (f.rule_id, f.severity, f.credential_type)):  # order-free
        if f.rule_id not in by_id:
            by_id[f.rule_id] = _descriptor(
                f.rule_id, f"{f.credential_type} credential", f.credential_type, f.severity, RULES_DOC_URI
            )
    return [by_id[rule_id] for rule_id in sorted(by_id)]


def _descriptor(
    rule_id: str, description: str, credential_type: str, severity: str, help_uri: str
) -> dict[str, Any]:
    steps = AWS_STEPS if credential_type == "aws_access_key" else GENERIC_STEPS
    return {
        "id": rule_id,
        "name": _pascal(rule_id),
        "shortDescription": {"text": description},
        "fullDescription": {
            "text": f"{description} ({credential_type}). keysentry reports the key ID, the account when "
            "it can be derived and a fingerprint of the finding; the secret itself is never written."
        },
        "help": {
            "text": f"{description} found. {HELP_INTRO}\n"
            + "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1)),
            "markdown": f"**{description}** found. {HELP_INTRO}\n\n"
            + "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1)),
        },
        "helpUri": help_uri,
        "defaultConfiguration": {"level": _level(severity)},
        "properties": {
            "tags": list(RULE_TAGS),
            "security-severity": SECURITY_SEVERITY.get(severity, SECURITY_SEVERITY["medium"]),
            "credentialType": credential_type,
            "severity": severity,
        },
    }


HELP_INTRO = (
    "Treat it as exposed: anyone who could read this repository or file may have copied it, and "
    "deleting the line or rewriting history does not take it back (forks, clones and caches keep it)."
)
AWS_STEPS = (
    "Create a new access key, move every workload to it, then deactivate the exposed key "
    "(iam:UpdateAccessKey Status=Inactive); delete it once nothing breaks.",
    "Review what the exposed key did: CloudTrail event history filtered by its access key ID, in every "
    "Region.",
    "Remove anything it created that you did not, and rotate every secret it could read.",
    "Keep keys out of code: IAM roles or IAM Identity Center instead of long-term keys, and secret "
    "scanning with push protection.",
)
GENERIC_STEPS = (
    "Revoke or rotate the credential at its issuer now.",
    "Review what it was used for while it was exposed (the issuer's audit log).",
    "Keep secrets out of code: a secret manager or injected environment, and secret scanning with push "
    "protection.",
)


def _pascal(rule_id: str) -> str:
    """``aws-access-key`` → ``AwsAccessKey``: SARIF rule names are identifiers, ids are not."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", rule_id) if part)


def _level(severity: str) -> str:
    """Unknown severities (a newer engine, a hand-built finding) count as medium, not as silence."""
    return LEVELS.get(severity, "warning")


# --- results ------------------------------------------------------------------------------------
def _results(
    findings: Iterable[Finding], index: dict[str, int], suppression: str | None, bases: dict[str, str]
) -> Iterable[dict[str, Any]]:
    for finding in findings:
        seen: dict[str, int] = {}  # occurrences of this credential per file, in line order
        for location in sorted(finding.locations, key=lambda loc: (loc.line, loc.column)):
            uri = artifact_uri(_where(location.provenance))
            seen[uri] = seen.get(uri, 0) + 1
            line_hash = _line_hash(finding, uri, seen[uri])
            base = _base_of(location, bases)
            yield _result(finding, location, index[finding.rule_id], suppression, line_hash, base)


def _line_hash(finding: Finding, uri: str, occurrence: int) -> str:
    """GitHub's ``primaryLocationLineHash`` (``<hash>:<occurrence>``): the same credential in the same
    file is the same alert in every run, whichever line it moved to."""
    digest = hashlib.sha256(f"{finding.fingerprint}\0{uri}".encode()).hexdigest()[:16]
    return f"{digest}:{occurrence}"


def _base_of(loc: Location, bases: dict[str, str]) -> str | None:
    """The uriBaseId a location's relative path is relative to: its repository's; with one repository
    scanned, also its work tree's files."""
    p = loc.provenance
    if p.repository in bases:
        return bases[p.repository]
    relative = not re.match(r"^(/|[A-Za-z]:[/\\]|[A-Za-z][A-Za-z0-9+.-]*://)", _where(p))
    return next(iter(bases.values())) if len(bases) == 1 and relative and p.kind == "file" else None


def _result(
    finding: Finding,
    loc: Location,
    rule_index: int,
    suppression: str | None,
    line_hash: str,
    base: str | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        # A low-confidence finding (a failed checksum, a key that does not parse) is a note, whatever
        # its type's severity: it is shown, not raised as an alert to act on.
        "level": "note" if finding.confidence == "low" else _level(finding.severity),
        "rank": RANKS.get(finding.confidence, RANKS["medium"]),
        "message": {"text": _message(finding, loc)},
        "locations": [_location(loc, base)],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint, LINE_HASH_KEY: line_hash},
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
    if finding.confidence == "low":
        text += f" Low confidence: {finding.confidence_reason or 'a generic match'}."
    if loc.decoding:
        text += f" Found after {loc.decoding} decoding."
    p = loc.provenance
    if p.commit:
        text += f" Added in commit {p.commit[:12]}."
    if finding.at_head is not None:
        text += f" {history_status(finding)}."
    return text


def history_status(finding: Finding) -> str:
    """Whether the secret is still at HEAD, or was removed later and where: the same words in every
    output (text, JSON Lines, SARIF)."""
    if finding.at_head:
        return "Still at HEAD"
    where = (
        f"removed in {finding.removed_in[:12]}"
        if finding.removed_in
        else "not at HEAD (another branch or ref)"
    )
    return f"{where[:1].upper()}{where[1:]}, still in history: rotate it, rewriting history does not help"


def _location(loc: Location, base: str | None = None) -> dict[str, Any]:
    artifact: dict[str, Any] = {"uri": artifact_uri(_where(loc.provenance))}
    if base is not None:
        artifact["uriBaseId"] = base
    member = archive_member(loc.provenance.path)
    if member is not None:
        artifact["properties"] = {"archive": member[0], "member": member[1]}
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact, "region": _region(loc)}}
    p = loc.provenance
    if p.commit:  # a place in history: which commit, and whether HEAD still has the file
        location["properties"] = {"commit": p.commit}
        if p.at_head is not None:
            location["properties"]["presentAtHead"] = p.at_head
    return location


def _region(loc: Location) -> dict[str, int]:
    """Start and end, always both (GitHub wants them): where the end is not known (a finding made
    outside the engine), the region is the first character."""
    start_line, start_column = max(loc.line, 1), max(loc.column, 1)
    if loc.end_line >= start_line and loc.end_column >= 1:
        end_line, end_column = loc.end_line, loc.end_column
    else:
        end_line, end_column = start_line, start_column + 1
    return {
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    }


def _result_properties(finding: Finding, loc: Location) -> dict[str, Any]:
    p = loc.provenance
    props: dict[str, Any] = {
        "keyId": finding.key_id,
        "credentialType": finding.credential_type,
        "hasSecret": finding.has_secret,
        "severity": finding.severity,
        "confidence": finding.confidence,
        "sourceKind": p.kind,
    }
    optional = {
        "confidenceReason": finding.confidence_reason,
        "accountId": finding.account_id,
        "decoding": loc.decoding,
        "repository": p.repository,
        "origin": p.origin,
        "commit": p.commit,
        "author": p.author,
        "committedAt": iso8601(p.committed_at),
        "atHead": finding.at_head,
        "removedIn": finding.removed_in,
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
    """Skipped files are tool notifications: not findings, but never silent either.  Input that could not
    be read at all makes the run unsuccessful (``executionSuccessful: false``), each such input an
    error notification: the results are not all there were."""
    return {
        "executionSuccessful": not report.incomplete,
        "toolExecutionNotifications": [
            _skipped(s) for s in sorted(report.skipped, key=lambda s: (_where(s.provenance), s.reason))
        ],
        "properties": {
            "blobsScanned": report.blobs_scanned,
            "bytesScanned": report.bytes_scanned,
            "complete": not report.incomplete,
            # Left out of the results, on purpose, and counted here so that nothing leaves silently.
            "belowMinConfidence": report.below_min_confidence,
            "excluded": report.excluded,
        },
    }


def _skipped(skipped: Skipped) -> dict[str, Any]:
    said = "could not read" if skipped.damaged else "skipped"
    return {
        "level": "error" if skipped.damaged else "note",
        "message": {"text": f"{said} {skipped.provenance.describe()}: {skipped.reason}"},
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
