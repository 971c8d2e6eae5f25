"""The report API: other scanners' output accepted as it is (trufflehog, gitleaks/betterleaks) and our
own format, behind API tokens with roles; recorded before the answer, contained in the background."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import member_credentials
from helpers import KEYSENTRY, exposure_of, wait_for
from keysentry.authority.clients import AwsClients
from keysentry.config.settings import Settings
from keysentry.emulator.seed import SeededUser
from keysentry.service.app import create_app
from keysentry.store import open_store
from keysentry.store.models import Exposure, OutboxMessage, Report
from keysentry.store.tokens import create_token

COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"investigation_delays": []})


@pytest.fixture
def tokens(api_settings: Settings) -> dict[str, str]:
    store = open_store(api_settings.resolved_database_url())
    made = {role: create_token(store, f"{role}-bot", role) for role in ("viewer", "responder", "admin")}
    store.dispose()
    return made


@pytest.fixture
def client(api_settings: Settings, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, background=True)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def trufflehog_line(user) -> str:  # type: ignore[no-untyped-def]
    return json.dumps(
        {
            "SourceMetadata": {
                "Data": {
                    "Git": {
                        "commit": COMMIT,
                        "file": "config/.env",
                        "email": "Dev One <dev@example.com>",
                        "repository": "https://github.com/acme/app.git",
                        "timestamp": "2026-11-20 08:00:00 +0000 UTC",
                        "line": 3,
                    }
                }
            },
            "SourceName": "trufflehog - git",
            "DetectorType": 2,
            "DetectorName": "AWS",
            "DecoderName": "PLAIN",
            "Verified": False,
            "Raw": user.access_key_id,
            "RawV2": user.access_key_id + user.secret_access_key,
            "Redacted": user.access_key_id,
        }
    )


def test_reports_need_a_responder_token(client: TestClient, tokens: dict[str, str]) -> None:
    body = json.dumps({"text": "nothing"})
    assert client.post("/v1/reports", content=body).status_code == 401
    assert client.post("/v1/reports", content=body, headers=bearer("ks_forged")).status_code == 401
    assert client.post("/v1/reports", content=body, headers=bearer(tokens["viewer"])).status_code == 403
    assert client.post("/v1/reports", content=body, headers=bearer(tokens["responder"])).status_code == 202
    assert client.post("/v1/reports", content=body, headers=bearer(tokens["admin"])).status_code == 202


def test_trufflehog_output_as_it_is_goes_to_containment(
    client: TestClient, tokens: dict[str, str], api_settings: Settings, new_user
) -> None:
    user = new_user("workloads-dev")
    answer = client.post(
        "/v1/reports", content=trufflehog_line(user) + "\n", headers=bearer(tokens["responder"])
    )
    assert answer.status_code == 202, answer.text
    summary = answer.json()
    assert summary["accepted"] == 1 and [c["key_id"] for c in summary["credentials"]] == [user.access_key_id]
    responder = client.app.state.responder
    assert wait_for(lambda: exposure_of(responder, user.access_key_id).state == "notified")
    e = exposure_of(responder, user.access_key_id)
    [sighting] = e.sightings
    assert (sighting.commit, sighting.path, sighting.line, sighting.repository) == (
        COMMIT,
        "config/.env",
        3,
        "https://github.com/acme/app.git",
    )
    assert e.first_seen_at is not None and e.first_seen_at.isoformat().startswith("2026-11-20T08:00:00")


def test_a_key_id_alone_is_a_suspected_exposure_that_its_secret_turns_into_a_contained_one(
    client: TestClient, tokens: dict[str, str], api_settings: Settings, new_user, admin_clients: AwsClients
) -> None:
    """gitleaks reports an AWS key ID alone: a suspected exposure, attributed and announced with AWS's
    own SUSPECTED event code, not contained (the default).  When the secret is reported later, the same
    exposure becomes the full one, is contained at once and announced anew."""
    user = new_user("workloads-prod")
    gitleaks = [
        {
            "RuleID": "aws-access-token",
            "Match": f"aws_access_key_id = {user.access_key_id}",
            "Secret": user.access_key_id,
            "File": "deploy/settings.py",
            "StartLine": 12,
            "Commit": COMMIT,
            "Author": "Dev Two",
            "Email": "two@example.com",
            "Date": "2026-11-21T09:00:00Z",
        }
    ]
    answer = client.post("/v1/reports", content=json.dumps(gitleaks), headers=bearer(tokens["responder"]))
    assert answer.status_code == 202
    [item] = answer.json()["items"]
    [suspected_id] = item["exposures"]
    responder = client.app.state.responder
    assert wait_for(lambda: exposure_of(responder, user.access_key_id).state == "notified")
    e = exposure_of(responder, user.access_key_id)
    assert (e.id, e.severity, e.account_id, e.principal_name) == (
        suspected_id,
        "medium",
        user.account_id,
        user.user_name,
    )
    assert e.containment["applied"] is False and e.containment["mode"] == "suspected"
    kinds = [t.kind for t in e.timeline]
    assert "contain.succeeded" in kinds and "notified" in kinds
    suspected_state = next(t for t in e.timeline if t.kind == "contain.succeeded").detail
    assert suspected_state["to_state"] == "suspected"
    events = [m.payload for m in outbox_of(api_settings, e.id) if m.channel == "eventbridge"]
    assert [p["detail"]["eventTypeCode"] for p in events] == ["AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED"]
    assert quarantines(admin_clients, user) == []

    manual = {
        "key_id": user.access_key_id,
        "secret": user.secret_access_key,
        "url": "https://pastebin.example/abc",
        "path": "paste",
    }
    answer = client.post("/v1/reports", content=json.dumps(manual), headers=bearer(tokens["responder"]))
    assert answer.status_code == 202 and answer.json()["credentials"][0]["exposure_id"] == suspected_id
    assert wait_for(
        lambda: (
            exposure_of(responder, user.access_key_id).state == "notified"
            and exposure_of(responder, user.access_key_id).reopened == 1
        )
    )
    e = exposure_of(responder, user.access_key_id)
    assert e.containment["applied"] is True and e.severity == "critical"
    [quarantine] = quarantines(admin_clients, user)
    assert quarantine.startswith("AWSCompromisedKeyQuarantine")
    events = [m.payload for m in outbox_of(api_settings, e.id) if m.channel == "eventbridge"]
    assert [p["detail"]["eventTypeCode"] for p in events] == [
        "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
        "AWS_RISK_CREDENTIALS_EXPOSED",
    ]
    store = open_store(api_settings.resolved_database_url())
    with store.session() as s:
        labels = [r.label for r in s.query(Report).order_by(Report.id)]
        assert labels == ["true_positive", "true_positive"]
    store.dispose()
    database = Path(api_settings.resolved_database_url().removeprefix("sqlite:///"))
    if database.exists():
        assert user.secret_access_key.encode() not in database.read_bytes()


def outbox_of(settings: Settings, exposure_id: int) -> list[OutboxMessage]:
    store = open_store(settings.resolved_database_url())
    try:
        with store.session() as s:
            return list(s.query(OutboxMessage).filter_by(exposure_id=exposure_id).order_by(OutboxMessage.id))
    finally:
        store.dispose()


def quarantines(clients: AwsClients, user: SeededUser) -> list[str]:
    """The quarantine policies attached to the user, read back from IAM."""
    iam = clients.client("iam", credentials=member_credentials(clients, user.account_id))
    attached = iam.list_attached_user_policies(UserName=user.user_name)["AttachedPolicies"]
    return [p["PolicyName"] for p in attached if "Quarantine" in p["PolicyName"]]


def test_an_unreadable_report_is_refused_and_nothing_is_recorded(
    client: TestClient, tokens: dict[str, str], api_settings: Settings
) -> None:
    refused = {
        b"\xff\xfe": "not UTF-8",
        b"not json at all": "neither JSON nor JSON Lines",
        b"  \n": "the body is empty",
        b"[1, 2]": "every item must be a JSON object",
        b'{"some": "thing"}': "an item is neither trufflehog",
        b'[{"RuleID": "aws", "StartLine": "12"}]': "a gitleaks item's StartLine must be a whole number",
        b'{"key_id": "AKIA", "line": 0}': "line must be from 1 to 2147483647",
        b'{"key_id": 12}': "a manual item's key_id must be a string",
        b'{"text": "x", "committed_at": "yesterday"}': "committed_at must be an ISO 8601 time",
        b'{"runs": null}': "runs must not be null",
        b'{"runs": [1]}': "a SARIF run must be a JSON object",
    }
    for body, why in refused.items():
        answer = client.post("/v1/reports", content=body, headers=bearer(tokens["responder"]))
        assert answer.status_code == 400 and why in answer.json()["error"], (body, answer.text)
    # A scan that found nothing is a report of nothing (gitleaks writes []): accepted, nothing recorded.
    for body in (b"[]", b'{"version": "2.1.0", "runs": [{"results": []}]}'):
        answer = client.post("/v1/reports", content=body, headers=bearer(tokens["responder"]))
        assert answer.status_code == 202 and answer.json()["accepted"] == 0, answer.text
    store = open_store(api_settings.resolved_database_url())
    with store.session() as s:
        assert (s.query(Report).count(), s.query(Exposure).count()) == (0, 0)
    store.dispose()


def test_tokens_from_the_command_line(api_settings: Settings, tmp_path: Path) -> None:
    url = api_settings.resolved_database_url()

    def run(*args: str) -> str:
        done = subprocess.run(
            [KEYSENTRY, "tokens", *args, "--database-url", url], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    token = run("create", "pipeline", "--role", "responder")
    assert token.startswith("ks_")
    with TestClient(create_app(api_settings, background=False)) as c:
        assert c.post("/v1/reports", content=b'{"text": "x"}', headers=bearer(token)).status_code == 202
        assert "pipeline" in run("list") and "responder" in run("list")
        assert run("revoke", "pipeline") == "revoked 1 token(s) named pipeline"
        assert c.post("/v1/reports", content=b'{"text": "x"}', headers=bearer(token)).status_code == 401
    assert token not in run("list")


def test_many_reports_at_once_are_each_contained_once(
    client: TestClient, tokens: dict[str, str], new_user
) -> None:
    """The worker responds to several exposures at once, each by one thread: a list of 24 credentials
    (three accounts) is contained and announced, every one exactly once."""
    users = [new_user(("workloads-prod", "workloads-dev", "management")[n % 3]) for n in range(24)]
    manual = [
        {"key_id": u.access_key_id, "secret": u.secret_access_key, "url": f"https://paste.example/{n}"}
        for n, u in enumerate(users)
    ]
    answer = client.post("/v1/reports", content=json.dumps(manual), headers=bearer(tokens["responder"]))
    assert answer.status_code == 202 and answer.json()["accepted"] == 24
    responder = client.app.state.responder
    assert wait_for(
        lambda: all(exposure_of(responder, u.access_key_id).state == "notified" for u in users), 60
    )
    for u in users:
        kinds = [t.kind for t in exposure_of(responder, u.access_key_id).timeline]
        assert kinds.count("contain.succeeded") == 1 and kinds.count("attribute.succeeded") == 1
        assert not any(k.endswith(".failed") for k in kinds)


def test_gitleaks_reporting_a_pair_as_two_findings_is_paired_and_every_item_is_answered(
    client: TestClient, tokens: dict[str, str], new_user
) -> None:
    """gitleaks reports the key ID (aws-access-token) and the secret (generic-api-key) of one pair as two
    findings of the same file: they are scanned together, so the pair is recorded and contained; each
    item of the answer says what it led to, or why nothing."""
    user = new_user("workloads-prod")
    place = {"File": "deploy/settings.env", "Commit": COMMIT, "Author": "Dev", "Email": "dev@example.com"}
    report = [
        {
            "RuleID": "aws-access-token",
            "Match": f"AWS_ACCESS_KEY_ID={user.access_key_id}",
            "Secret": user.access_key_id,
            "StartLine": 1,
            **place,
        },
        {
            "RuleID": "generic-api-key",
            "Match": f"AWS_SECRET_ACCESS_KEY={user.secret_access_key}",
            "Secret": user.secret_access_key,
            "StartLine": 2,
            **place,
        },
        {"RuleID": "generic-api-key", "Match": "token = hello", "Secret": "hello", "File": "README.md"},
    ]
    answer = client.post("/v1/reports", content=json.dumps(report), headers=bearer(tokens["responder"]))
    assert answer.status_code == 202
    body = answer.json()
    [credential] = body["credentials"]
    assert credential["key_id"] == user.access_key_id
    first, second, third = body["items"]
    assert first["exposures"] == second["exposures"] == [credential["exposure_id"]]
    assert first["reason"] is None and second["reason"] is None
    assert third["exposures"] == [] and third["reason"] == "no credential recognised"
    assert body["without_a_usable_credential"] == 1
    assert user.secret_access_key not in answer.text
    responder = client.app.state.responder
    assert wait_for(lambda: exposure_of(responder, user.access_key_id).state == "notified")
