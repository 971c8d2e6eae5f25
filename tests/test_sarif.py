"""SARIF output: valid against the official schema, shaped the way GitHub code scanning reads it, secret-free.

``tests/data/sarif-schema-2.1.0.json`` is the OASIS SARIF 2.1.0 schema (with the approved errata),
vendored unmodified from https://github.com/oasis-tcs/sarif-spec, file
``sarif-2.1/schema/sarif-schema-2.1.0.json`` at commit e0583813964ec43cea53b6b531b402866095ed1f
(git blob 0f58372b548f60c84d20fca77687435e71b3b3a3).  Its published home is
https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from helpers import KEYSENTRY
from keysentry.content import Provenance, Skipped
from keysentry.detect.findings import Finding, Location
from keysentry.detect.rules import Rule, load_rules
from keysentry.detect.scanner import ScanReport
from keysentry.report import sarif_log
from keysentry.report.sarif import FINGERPRINT_KEY, SARIF_SCHEMA, archive_member, artifact_uri

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

# Planted secrets: only their hashes go into findings, and none of these may reach the log.
LIVE_SECRET = "q7Vd2xLpR9sTz4Wm1Kc8Bn3Hf6Yj0Ga5Ue2Io7Pw"
GIT_SECRET = "Zt8Rb3Nq6Wx1Lm4Ks9Pd2Fv7Hc0Jy5Ga8Ue3Io6T"
ARCHIVE_SECRET = "ghp_R8s2Lk4Qw9Zx7Cv1Bn5Mm3Jh6Gf0Dd4Ss2Aa9"
DECODED_SECRET = "hunter2-but-much-longer-Xy7Qp3Lk9Wz"
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BASELINED_SECRET = "itk_Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv"
UNKNOWN_RULE_SECRET = "fut_9Zy8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg"
SECRETS = (
    LIVE_SECRET,
    GIT_SECRET,
    ARCHIVE_SECRET,
    DECODED_SECRET,
    EXAMPLE_SECRET,
    BASELINED_SECRET,
    UNKNOWN_RULE_SECRET,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMMITTED_AT = datetime(2024, 5, 1, 12, 30, 5, tzinfo=timezone(timedelta(hours=2)))


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def rule(rule_id: str, severity: str, credential_type: str) -> Rule:
    """Only the fields SARIF reads; model_construct keeps these tests independent of the rule format."""
    return Rule.model_construct(
        id=rule_id, description=f"{rule_id} credential", credential_type=credential_type, severity=severity
    )


RULES = [
    rule("internal-token", "low", "internal_token"),  # out of order on purpose: the log sorts rules
    rule("aws-access-key", "critical", "aws_access_key"),
    rule("github-token", "high", "github_token"),
    rule("generic-password", "medium", "password"),
]


def file_at(path: str, line: int, column: int = 1, decoding: str | None = None) -> Location:
    return Location(
        Provenance(kind="file", path=path, url=f"file:///home/ci/work/{path}"), line, column, decoding
    )


@dataclass
class Sample:
    report: ScanReport
    baselined: list[Finding]
    live: Finding  # one credential seen in three files
    git: Finding
    archive: Finding
    decoded: Finding
    example: Finding
    old: Finding  # the baselined one
    unknown: Finding  # its rule is not among RULES


def sample() -> Sample:
    live = Finding(
        "aws-access-key", "aws_access_key", "AKIA2E4NSOV2YKN3WQ7A", sha(LIVE_SECRET), "123456789012",
        severity="critical",
        locations=[
            file_at("config/prod.env", 3, 19),
            file_at("deploy/app.yaml", 10, 5),
            file_at("docs\\setup notes.md", 42, 1),  # a Windows path with a space
        ],
    )  # fmt: skip
    git = Finding(
        "aws-access-key", "aws_access_key", "ASIAY34FZKBOKMUTVV7A", sha(GIT_SECRET), "609629065308",
        severity="critical",
        locations=[
            Location(
                Provenance(
                    kind="git", path="src/settings.py", repository="https://github.com/example/app.git",
                    commit=COMMIT, author="Dana Developer <dana@example.com>", committed_at=COMMITTED_AT,
                ),
                7, 12,
            )
        ],
    )  # fmt: skip
    archive = Finding(
        "github-token", "github_token", "ghp_…1f3e9a0c", sha(ARCHIVE_SECRET), None, severity="high",
        locations=[file_at("dist/bundle.zip!app/config.env", 2, 14)],
    )  # fmt: skip
    decoded = Finding(
        "generic-password", "password", "db-password…77aa01", sha(DECODED_SECRET), None, severity="medium",
        locations=[file_at("k8s/secret.yaml", 5, 9, decoding="base64")],
    )  # fmt: skip
    example = Finding(
        "aws-access-key", "aws_access_key", "AKIAIOSFODNN7EXAMPLE", sha(EXAMPLE_SECRET), "581039954779",
        suppressed="documentation example (AWS docs key ID)", severity="critical",
        locations=[file_at("README.md", 12, 5)],
    )  # fmt: skip
    old = Finding(
        "internal-token", "internal_token", "itk_…0badc0de", sha(BASELINED_SECRET), None, severity="low",
        locations=[file_at("legacy/settings.ini", 1, 1)],
    )  # fmt: skip
    unknown = Finding(
        "future-rule", "future_token", "fut_…9e8d7c6b", sha(UNKNOWN_RULE_SECRET), None, severity="high",
        locations=[file_at("misc/tokens.txt", 4, 2)],
    )  # fmt: skip
    report = ScanReport(
        findings=[live, git, archive, decoded, unknown],
        suppressed=[example],
        skipped=[
            Skipped(Provenance(kind="file", path="assets/logo.png"), "binary file (not scanned)"),
            Skipped(Provenance(kind="file", path="dumps/big.sql"), "larger than the 1,024-byte limit"),
        ],
        blobs_scanned=9,
        bytes_scanned=12_345,
    )
    return Sample(report, [old], live, git, archive, decoded, example, old, unknown)


# jsonschema checks "uri" formats only with an optional package installed; this is the RFC 3986
# character set plus its one trap: a ":" in the first segment must introduce a scheme.
URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def is_uri_reference(value: object) -> bool:
    if not isinstance(value, str):
        return True
    first_segment = re.split(r"[/?#]", value, maxsplit=1)[0]
    return bool(URI_CHARACTERS.fullmatch(value)) and (":" not in first_segment or bool(SCHEME.match(value)))


@cache
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    formats = jsonschema.FormatChecker()
    formats.checks("uri-reference")(is_uri_reference)
    formats.checks("uri")(lambda v: is_uri_reference(v) and bool(SCHEME.match(v)))
    return jsonschema.Draft4Validator(schema, format_checker=formats)


def assert_valid(log: dict[str, Any]) -> None:
    errors = sorted(validator().iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def full_log() -> tuple[Sample, dict[str, Any]]:
    s = sample()
    return s, sarif_log(s.report, RULES, "0.1.0", baselined=s.baselined)


def results_for(log: dict[str, Any], finding: Finding) -> list[dict[str, Any]]:
    return [
        r
        for r in log["runs"][0]["results"]
        if r["partialFingerprints"][FINGERPRINT_KEY] == finding.fingerprint
    ]


def only_result(log: dict[str, Any], finding: Finding) -> dict[str, Any]:
    (result,) = results_for(log, finding)
    return result


def artifact(result: dict[str, Any]) -> dict[str, Any]:
    location: dict[str, Any] = result["locations"][0]["physicalLocation"]["artifactLocation"]
    return location


# --- schema -------------------------------------------------------------------------------------
def test_vendored_schema_is_the_one_the_log_names() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["id"] == SARIF_SCHEMA
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")


def test_full_report_is_valid_sarif() -> None:
    _, log = full_log()
    assert_valid(log)
    assert log["version"] == "2.1.0"
    assert log["$schema"] == SARIF_SCHEMA
    assert len(log["runs"]) == 1


def test_empty_report_is_valid_sarif() -> None:
    log = sarif_log(ScanReport(), RULES, "0.1.0")
    assert_valid(log)
    run = log["runs"][0]
    assert run["results"] == []
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["invocations"][0]["toolExecutionNotifications"] == []
    assert len(run["tool"]["driver"]["rules"]) == len(RULES)


def test_bundled_rules_make_valid_descriptors() -> None:
    log = sarif_log(ScanReport(), load_rules(), "0.1.0")
    assert_valid(log)
    ids = [d["id"] for d in log["runs"][0]["tool"]["driver"]["rules"]]
    assert ids == sorted(r.id for r in load_rules())


# --- tool and rules -----------------------------------------------------------------------------
def test_driver_describes_every_rule_sorted_with_github_severities() -> None:
    _, log = full_log()
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "keysentry"
    assert driver["semanticVersion"] == "0.1.0"
    assert driver["informationUri"].startswith("https://")
    by_id = {d["id"]: d for d in driver["rules"]}
    assert [d["id"] for d in driver["rules"]] == sorted(by_id)
    expected = {
        "aws-access-key": ("error", "9.5"),
        "github-token": ("error", "8.0"),
        "generic-password": ("warning", "5.5"),
        "internal-token": ("note", "3.0"),
    }
    for rule_id, (level, score) in expected.items():
        d = by_id[rule_id]
        assert d["defaultConfiguration"]["level"] == level
        assert d["properties"]["security-severity"] == score
        assert "security" in d["properties"]["tags"]
        assert d["shortDescription"]["text"] and d["fullDescription"]["text"]
    assert by_id["aws-access-key"]["name"] == "AwsAccessKey"
    # A finding from a rule the caller did not pass gets a stand-in, so ruleIndex stays valid.
    assert "future-rule" in by_id
    for result in log["runs"][0]["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


# --- results ------------------------------------------------------------------------------------
def test_one_result_per_location_sharing_the_fingerprint() -> None:
    s, log = full_log()
    results = results_for(log, s.live)
    assert len(results) == 3
    assert {r["partialFingerprints"][FINGERPRINT_KEY] for r in results} == {s.live.fingerprint}
    # One alert per file for GitHub: the line hash differs between files, not between runs.
    assert len({r["partialFingerprints"]["primaryLocationLineHash"] for r in results}) == 3
    uris = sorted(artifact(r)["uri"] for r in results)
    assert uris == ["config/prod.env", "deploy/app.yaml", "docs/setup%20notes.md"]
    total = sum(len(f.locations) for f in [*s.report.findings, *s.report.suppressed, *s.baselined])
    assert len(log["runs"][0]["results"]) == total


def test_levels_follow_finding_severity() -> None:
    s, log = full_log()
    assert {r["level"] for r in results_for(log, s.live)} == {"error"}
    assert only_result(log, s.archive)["level"] == "error"
    assert only_result(log, s.decoded)["level"] == "warning"
    assert only_result(log, s.old)["level"] == "note"


def test_plain_file_result() -> None:
    s, log = full_log()
    (result,) = [r for r in results_for(log, s.live) if artifact(r)["uri"] == "config/prod.env"]
    assert result["ruleId"] == "aws-access-key"
    # Built by hand without an end, the region is its first character.
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 3, "startColumn": 19, "endLine": 3, "endColumn": 20}
    text = result["message"]["text"]
    assert "AKIA2E4NSOV2YKN3WQ7A" in text and "123456789012" in text
    props = result["properties"]
    assert props["keyId"] == "AKIA2E4NSOV2YKN3WQ7A"
    assert props["accountId"] == "123456789012"
    assert props["credentialType"] == "aws_access_key"
    assert props["hasSecret"] is True
    assert "url" not in props  # a file:// URL would only add this machine's directories
    assert "suppressions" not in result


def test_git_result_names_commit_author_and_time() -> None:
    s, log = full_log()
    result = only_result(log, s.git)
    assert artifact(result)["uri"] == "src/settings.py"
    props = result["properties"]
    assert props["commit"] == COMMIT
    assert props["author"] == "Dana Developer <dana@example.com>"
    assert props["committedAt"] == "2024-05-01T12:30:05+02:00"
    assert datetime.fromisoformat(props["committedAt"]) == COMMITTED_AT
    assert props["repository"] == "https://github.com/example/app.git"


def test_archive_member_keeps_its_path_and_says_which_archive() -> None:
    s, log = full_log()
    location = artifact(only_result(log, s.archive))
    assert location["uri"] == "dist/bundle.zip!app/config.env"
    assert location["properties"] == {"archive": "dist/bundle.zip", "member": "app/config.env"}


def test_decoded_result_says_how_it_was_decoded() -> None:
    s, log = full_log()
    result = only_result(log, s.decoded)
    assert result["properties"]["decoding"] == "base64"
    assert "base64" in result["message"]["text"]


def test_documentation_example_is_suppressed_in_source() -> None:
    s, log = full_log()
    result = only_result(log, s.example)
    (suppression,) = result["suppressions"]
    assert suppression["kind"] == "inSource"
    assert suppression["justification"] == "documentation example (AWS docs key ID)"


def test_baselined_finding_is_suppressed_externally() -> None:
    s, log = full_log()
    result = only_result(log, s.old)
    (suppression,) = result["suppressions"]
    assert suppression["kind"] == "external"
    assert "baseline" in suppression["justification"]
    live = [r for r in log["runs"][0]["results"] if "suppressions" not in r]
    assert {r["partialFingerprints"][FINGERPRINT_KEY] for r in live} == {
        f.fingerprint for f in s.report.findings
    }


def test_skipped_files_are_note_notifications_with_the_reason() -> None:
    _, log = full_log()
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    notes = invocation["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["note", "note"]
    assert [n["properties"]["reason"] for n in notes] == [
        "binary file (not scanned)",
        "larger than the 1,024-byte limit",
    ]
    assert "assets/logo.png" in notes[0]["message"]["text"]
    assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "assets/logo.png"


# --- safety and stability -----------------------------------------------------------------------
def test_no_secret_anywhere_in_the_log() -> None:
    _, log = full_log()
    text = json.dumps(log)
    for secret in SECRETS:
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text  # not even JSON-escaped ("/" and all)


def test_output_is_deterministic() -> None:
    _, log = full_log()
    shuffled = sample()
    rng = random.Random(7)
    rng.shuffle(shuffled.report.findings)
    rng.shuffle(shuffled.report.skipped)
    for f in shuffled.report.findings:
        rng.shuffle(f.locations)
    again = sarif_log(shuffled.report, list(reversed(RULES)), "0.1.0", baselined=shuffled.baselined)
    assert json.dumps(again, indent=2) == json.dumps(log, indent=2)


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("config/app.env", "config/app.env"),
        ("config\\app.env", "config/app.env"),
        ("my dir/a#b.env", "my%20dir/a%23b.env"),
        ("weird:name.env", "weird%3Aname.env"),
        ("/srv/app/.env", "file:///srv/app/.env"),
        ("C:\\Users\\dana\\.env", "file:///C:/Users/dana/.env"),
        ("a.zip!b/c.env", "a.zip!b/c.env"),
        ("https://example.com/paste/1", "https://example.com/paste/1"),
    ],
)
def test_artifact_uri(path: str, uri: str) -> None:
    assert artifact_uri(path) == uri


@pytest.mark.parametrize(
    ("path", "member"),
    [
        ("a.zip!b/c.env", ("a.zip", "b/c.env")),
        (
            "outer.tar.gz!inner.jar!META-INF/app.properties",
            ("outer.tar.gz!inner.jar", "META-INF/app.properties"),
        ),
        ("notes!.txt", None),  # "!" is legal in a file name
        ("a.zip!", None),
        ("plain.env", None),
        (None, None),
    ],
)
def test_archive_member(path: str | None, member: tuple[str, str] | None) -> None:
    assert archive_member(path) == member


# --- what GitHub code scanning requires, on a real scan --------------------------------------------
TOOLS = Path(__file__).parents[1] / ".venv" / "tools" / "node_modules"
MULTITOOL = TOOLS / "@microsoft" / "sarif-multitool-linux" / "Sarif.Multitool"


def test_every_rule_has_help_a_help_uri_a_security_severity_and_tags() -> None:
    log = sarif_log(ScanReport(), load_rules(), "0.1.0")
    for descriptor in log["runs"][0]["tool"]["driver"]["rules"]:
        assert descriptor["help"]["text"] and descriptor["help"]["markdown"], descriptor["id"]
        assert descriptor["helpUri"].startswith("https://"), descriptor["id"]
        assert float(descriptor["properties"]["security-severity"]) > 0
        assert "security" in descriptor["properties"]["tags"]
    aws = next(d for d in log["runs"][0]["tool"]["driver"]["rules"] if d["id"] == "aws-access-key")
    assert "iam:UpdateAccessKey" in aws["help"]["text"] and aws["helpUri"].endswith("aws-access-key.toml")


@pytest.fixture(scope="module")
def history_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, str], Path]:
    """A repository whose key was committed in a file later deleted, and another key still at HEAD,
    on a line with non-ASCII text before the key; scanned from the command line as SARIF."""
    from helpers import commit_file, git, planted_pair

    repo = tmp_path_factory.mktemp("sarif") / "app"
    gone_id, gone_secret = planted_pair(81)
    kept_id, kept_secret = planted_pair(82)
    commit_file(repo, "config/old.env", f"AWS_ACCESS_KEY_ID={gone_id}\nAWS_SECRET_ACCESS_KEY={gone_secret}\n")
    git(repo, "rm", "-q", "config/old.env")
    git(repo, "commit", "-q", "-m", "remove the key")
    commit_file(repo, "app/settings.py", f'# réglages\nKEY = "{kept_id}"  # clé\nSECRET = "{kept_secret}"\n')
    git(repo, "remote", "add", "origin", "https://x-access-token:ghp_notarealtoken@github.com/acme/app.git")
    out = repo.parent / "keysentry.sarif"
    done = subprocess.run(
        [KEYSENTRY, "scan", str(repo), "-f", "sarif", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    head = git(repo, "rev-parse", "HEAD")
    return json.loads(out.read_text()), {"gone": gone_id, "kept": kept_id, "head": head}, out


def test_a_history_scan_is_valid_and_names_the_repository_and_its_head(history_scan) -> None:  # type: ignore[no-untyped-def]
    log, keys, _ = history_scan
    assert_valid(log)
    run = log["runs"][0]
    (provenance,) = run["versionControlProvenance"]
    assert provenance == {
        "repositoryUri": "https://github.com/acme/app.git",
        "revisionId": keys["head"],
        "branch": "main",
        "mappedTo": {"uriBaseId": "SRCROOT"},
    }
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file:///")
    for result in run["results"]:  # paths are relative to the repository's root
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "SRCROOT"
    assert "ghp_notarealtoken" not in json.dumps(log)  # the origin's credentials are never repeated


def test_every_result_has_a_full_region_and_a_line_hash(history_scan) -> None:  # type: ignore[no-untyped-def]
    log, keys, _ = history_scan
    results = log["runs"][0]["results"]
    assert results
    for result in results:
        region = result["locations"][0]["physicalLocation"]["region"]
        assert set(region) == {"startLine", "startColumn", "endLine", "endColumn"}
        assert re.fullmatch(r"[0-9a-f]{16}:\d+", result["partialFingerprints"]["primaryLocationLineHash"])
    (kept,) = [r for r in results if r["properties"]["keyId"] == keys["kept"]]
    # KEY = "…" on line 2: the key ID's 20 characters from column 8 (columns count characters).
    assert kept["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 2, "startColumn": 8, "endLine": 2, "endColumn": 28,
    }  # fmt: skip
    assert log["runs"][0]["columnKind"] == "unicodeCodePoints"


def test_a_finding_in_a_file_deleted_before_head_says_so_with_its_commit(history_scan) -> None:  # type: ignore[no-untyped-def]
    log, keys, _ = history_scan
    results = log["runs"][0]["results"]
    (gone,) = [r for r in results if r["properties"]["keyId"] == keys["gone"]]
    (kept,) = [r for r in results if r["properties"]["keyId"] == keys["kept"]]
    where = gone["locations"][0]
    assert where["physicalLocation"]["artifactLocation"]["uri"] == "config/old.env"
    assert where["properties"]["presentAtHead"] is False
    assert where["properties"]["commit"] == gone["properties"]["commit"]
    removed = gone["properties"]["removedIn"]
    assert gone["properties"]["atHead"] is False and len(removed) == 40
    assert f"Removed in {removed[:12]}, still in history: rotate it" in gone["message"]["text"]
    assert gone["properties"]["commit"][:12] in gone["message"]["text"]
    assert kept["locations"][0]["properties"]["presentAtHead"] is True
    assert kept["properties"]["atHead"] is True and "Still at HEAD" in kept["message"]["text"]


def test_microsoft_sarif_multitool_finds_no_error_with_githubs_rules(history_scan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The validator GitHub points to (``validate --rule-kind Gh``), installed from npm by make/.ci."""
    if not MULTITOOL.exists():
        if os.environ.get("KEYSENTRY_REQUIRE_SARIF_MULTITOOL") == "1":
            pytest.fail(f"{MULTITOOL} is missing but KEYSENTRY_REQUIRE_SARIF_MULTITOOL=1 (make tools)")
        pytest.skip("Microsoft's SARIF Multitool is not installed (make tools)")
    _, _, sarif = history_scan
    empty = tmp_path / "empty.sarif"
    empty.write_text(json.dumps(sarif_log(ScanReport(), load_rules(), "0.1.0")))
    full = tmp_path / "sample.sarif"
    s = sample()
    full.write_text(json.dumps(sarif_log(s.report, RULES, "0.1.0", baselined=s.baselined)))
    for log in (sarif, empty, full):
        report = tmp_path / f"{log.stem}.validation.sarif"
        done = subprocess.run(
            [str(MULTITOOL), "validate", "--rule-kind", "Gh;Sarif", "--output", str(report), str(log)],
            capture_output=True, text=True, check=False, timeout=300,
            env={**os.environ, "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"},
        )  # fmt: skip
        assert report.exists(), done.stdout + done.stderr
        findings = [
            f"{r['ruleId']}: {r['message'].get('text', r['message'])}"
            for run in json.loads(report.read_text())["runs"]
            for r in run.get("results", [])
            if r.get("level", "warning") in ("error", "warning")
        ]
        assert findings == [], f"{log.name}:\n" + "\n".join(findings)
