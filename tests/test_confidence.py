"""Every finding says how sure keysentry is, in every output; what is probably not real is counted and
shown on request, never dropped in silence; the service records it for triage instead of acting."""

from __future__ import annotations

import json
import random
from pathlib import Path

from helpers import exposure_of, github_token, jsonl_records, respond, run_keysentry
from keysentry.config.response import ResponsePolicy
from keysentry.config.settings import Settings
from keysentry.store.models import OutboxMessage

# Bodies that fail GitHub's CRC32 (a typed-in test token) and that do not parse as a key.
BAD_CHECKSUM = "ghp_qw1cDpIJHue5p0QQ1G25BOxHfM1jh54U83TA"
MALFORMED_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "TWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmssIGJ1dCB0aGlzIGlzIG5vdCBhIGtleSwganVzdCB0ZXh0IHRoYXQg\n"
    "bG9va3MgbGlrZSBvbmUgdG8gYSByZWd1bGFyIGV4cHJlc3Npb24gd2l0aG91dCBhIHBhcnNlciBiZWhpbmQgaXQu\n"
    "-----END RSA PRIVATE KEY-----\n"
)


def project(tmp_path: Path) -> tuple[Path, str]:
    good = github_token(random.Random(5))
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "ci.env").write_text(f"GITHUB_TOKEN={good}\nTEST_TOKEN={BAD_CHECKSUM}\n")
    (folder / "db.py").write_text('engine = create_engine("mysql+mysqldb://scott:tiger@localhost/foo")\n')
    return folder, good


def test_a_failed_checksum_is_counted_not_reported_and_listed_with_v(tmp_path: Path) -> None:
    folder, good = project(tmp_path)
    done = run_keysentry("scan", str(folder), "--no-progress")
    assert done.returncode == 1, done.stderr
    assert "high confidence" in done.stdout and "fails GitHub's checksum" not in done.stdout
    assert "1 below --min-confidence (-v to list them)" in done.stdout
    verbose = run_keysentry("scan", str(folder), "--no-progress", "-v")
    assert "low confidence (fails GitHub's checksum, probably a test value)" in verbose.stdout
    assert "below --min-confidence: not counted" in verbose.stdout
    assert good not in done.stdout + verbose.stdout and BAD_CHECKSUM not in done.stdout + verbose.stdout

    findings, summary = jsonl_records(run_keysentry("scan", str(folder), "-f", "jsonl").stdout)
    assert [(f["credential_type"], f["confidence"]) for f in findings] == [("github_token", "high")]
    assert summary["below_min_confidence"] == 1

    low = run_keysentry("scan", str(folder), "-f", "jsonl", "--min-confidence", "low")
    findings, summary = jsonl_records(low.stdout)
    assert sorted((f["confidence"], f["confidence_reason"]) for f in findings) == [
        ("high", None),
        ("low", "fails GitHub's checksum, probably a test value"),
    ]
    assert summary["below_min_confidence"] == 0 and low.returncode == 1


def test_only_a_low_confidence_finding_leaves_the_exit_code_clean(tmp_path: Path) -> None:
    (tmp_path / "t.env").write_text(f"TEST_TOKEN={BAD_CHECKSUM}\n")
    done = run_keysentry("scan", str(tmp_path), "--no-progress")
    assert done.returncode == 0 and "no credentials found" in done.stdout
    assert "1 below --min-confidence" in done.stdout
    assert run_keysentry("scan", str(tmp_path), "--min-confidence", "low").returncode == 1


def test_documentation_samples_are_listed_as_ignored_with_the_reason(tmp_path: Path) -> None:
    folder, _ = project(tmp_path)
    done = run_keysentry("scan", str(folder), "-f", "jsonl")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    [ignored] = [r for r in records if r.get("suppressed")]
    assert ignored["rule"] == "database-url-password" and ignored["key_id"] == "mysql+mysqldb://scott"
    assert ignored["suppressed"] == "well-known sample credential from documentation"
    assert records[-1]["examples_ignored"] == 1


def test_sarif_ranks_by_confidence_and_a_low_one_is_a_note(tmp_path: Path) -> None:
    folder, _ = project(tmp_path)
    done = run_keysentry("scan", str(folder), "-f", "sarif", "--min-confidence", "low")
    results = json.loads(done.stdout)["runs"][0]["results"]
    live = sorted(
        (r["rank"], r["level"], r["properties"]["confidence"]) for r in results if "suppressions" not in r
    )
    assert live == [(30.0, "note", "low"), (90.0, "error", "high")]
    default = json.loads(run_keysentry("scan", str(folder), "-f", "sarif").stdout)["runs"][0]
    assert default["invocations"][0]["properties"]["belowMinConfidence"] == 1  # left out, and said so
    assert [r["properties"]["confidence"] for r in default["results"] if "suppressions" not in r] == ["high"]
    [low] = [r for r in results if r["rank"] == 30.0]
    assert "Low confidence: fails GitHub's checksum" in low["message"]["text"]


def test_findings_are_listed_by_severity_then_confidence(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text(f"TEST_TOKEN={BAD_CHECKSUM}\n")  # high severity, low confidence
    (tmp_path / "b.pem").write_text(MALFORMED_KEY)  # critical, low
    (tmp_path / "c.env").write_text(f"GITHUB_TOKEN={github_token(random.Random(8))}\n")  # high, high
    findings, _ = jsonl_records(
        run_keysentry("scan", str(tmp_path), "-f", "jsonl", "--min-confidence", "low").stdout
    )
    assert [(f["severity"], f["confidence"]) for f in findings] == [
        ("critical", "low"),
        ("high", "high"),
        ("high", "low"),
    ]
    assert findings[0]["confidence_reason"] == "malformed or truncated: its body does not parse as a key"


def test_the_service_records_a_low_confidence_finding_as_unconfirmed_and_sends_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "deploy.pem").write_text(MALFORMED_KEY)
    responder, _ = respond(settings.model_copy(update={"investigation_delays": []}), tmp_path)
    [exposure] = _exposures(responder)
    assert (exposure.state, exposure.confidence) == ("unconfirmed", "low")
    assert "malformed or truncated" in (exposure.state_reason or "")
    with responder.store.session() as s:
        assert s.query(OutboxMessage).count() == 0


def test_with_low_confidence_respond_it_is_answered_like_the_rest(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "deploy.pem").write_text(MALFORMED_KEY)
    policy = ResponsePolicy(low_confidence="respond")
    responder, _ = respond(
        settings.model_copy(update={"investigation_delays": [], "response": policy}), tmp_path
    )
    [exposure] = _exposures(responder)
    assert exposure.confidence == "low" and exposure.state == "notified"
    assert exposure_of(responder, exposure.key_id).state == "notified"


def _exposures(responder):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from keysentry.store.models import Exposure

    with responder.store.session() as s:
        return list(s.scalars(sa.select(Exposure)))
