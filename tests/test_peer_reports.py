"""gitleaks and betterleaks output, exactly as those tools write it today, posted to the report API.

The files in ``tests/data/peer_reports`` were made by running gitleaks 8.30.1 and betterleaks
2.0.0-rc.4 on a small repository (``make_fixtures.py`` there does it again).  The tests swap the planted
AWS key pair for one the emulator's IAM knows (same lengths, so every column the tools wrote still
holds) and post the file as it is: the key ID and its secret, which gitleaks reports as two findings and
betterleaks as one finding with a component, are paired and contained; the GitHub token beside them is
revoked; the place, the line and the commit's time are the ones the tools wrote.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import exposure_of, github_token, wait_for
from keysentry.config.settings import Settings
from keysentry.emulator.issuers import IssuerStandIn
from keysentry.service.app import create_app
from keysentry.store import open_store
from keysentry.store.tokens import create_token

FIXTURES = Path(__file__).parent / "data" / "peer_reports"
PLANTED = json.loads((FIXTURES / "planted.json").read_text())
GITLEAKS, BETTERLEAKS = PLANTED["gitleaks"], PLANTED["betterleaks"]
COMMIT = "1ee5a0bd887735ba2bcfb1c841535c3c889d8b64"
REPOSITORY = "https://github.com/acme-corp/staging-stack"
COMMITTED_AT = datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
AUTHOR = "Dana Developer <dana@example.com>"


@pytest.fixture
def stand_in() -> Iterator[IssuerStandIn]:
    issuers = IssuerStandIn().start()
    yield issuers
    issuers.stop()


@pytest.fixture
def client(settings: Settings, stand_in: IssuerStandIn) -> Iterator[tuple[TestClient, str]]:
    configured = settings.model_copy(
        update={"investigation_delays": [], "issuers": Settings(issuers=stand_in.settings()).issuers}
    )
    store = open_store(configured.resolved_database_url())
    token = create_token(store, "ci-bot", "responder")
    store.dispose()
    with TestClient(create_app(configured, background=True)) as c:
        yield c, token


def as_the_tool_wrote_it(name: str, key_id: str, secret: str, token: str) -> bytes:
    text = (FIXTURES / name).read_text()
    assert PLANTED["key_id"] in text  # the fixture holds what the swap replaces
    for planted, real in (
        (PLANTED["key_id"], key_id),
        (PLANTED["secret"], secret),
        (PLANTED["github_token"], token),
    ):
        assert len(planted) == len(real)
        text = text.replace(planted, real)
    return text.encode()


# (file, items in it, whether it came from git history, whether it carries links and the repository)
REPORTS = [
    (f"gitleaks-{GITLEAKS}.git.json", 3, True, True),
    (f"gitleaks-{GITLEAKS}.git.sarif", 3, True, False),
    (f"gitleaks-{GITLEAKS}.dir.json", 3, False, False),
    (f"betterleaks-{BETTERLEAKS}.git.json", 2, True, True),
    (f"betterleaks-{BETTERLEAKS}.git.jsonl", 2, True, True),
    (f"betterleaks-{BETTERLEAKS}.fs.json", 2, False, False),
]


@pytest.mark.parametrize(("name", "items", "from_git", "linked"), REPORTS, ids=[r[0] for r in REPORTS])
def test_peer_output_as_it_is_is_paired_contained_and_placed(
    client: tuple[TestClient, str],
    new_user,
    stand_in: IssuerStandIn,
    name: str,
    items: int,
    from_git: bool,
    linked: bool,
) -> None:
    c, token = client
    user = new_user("workloads-prod")
    ghp = github_token(random.Random(name))
    body = as_the_tool_wrote_it(name, user.access_key_id, user.secret_access_key, ghp)
    answer = c.post("/v1/reports", content=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 202, answer.text
    got = answer.json()
    assert got["accepted"] == items and got["without_a_usable_credential"] == 0
    by_type = {cred["credential_type"]: cred for cred in got["credentials"]}
    assert by_type["aws_access_key"]["key_id"] == user.access_key_id
    assert "github_token" in by_type, got
    assert all(item["exposures"] and item["reason"] is None for item in got["items"]), got["items"]
    assert user.secret_access_key not in answer.text and ghp not in answer.text

    responder = c.app.state.responder
    assert wait_for(lambda: exposure_of(responder, user.access_key_id).state == "notified", 60)
    e = exposure_of(responder, user.access_key_id)
    kinds = [t.kind for t in e.timeline]
    assert kinds.count("contain.succeeded") == 1 and e.containment["applied"] is True
    [sighting] = e.sightings
    assert (sighting.path, sighting.line) == ("settings.env", 3)
    if from_git:
        assert (sighting.commit, sighting.author, sighting.committed_at) == (COMMIT, AUTHOR, COMMITTED_AT)
    else:
        assert (sighting.commit, sighting.committed_at) == (None, None)
    if linked:
        assert sighting.url == f"{REPOSITORY}/blob/{COMMIT}/settings.env#L3"
        if name.startswith("betterleaks"):
            assert sighting.repository == REPOSITORY
    assert wait_for(lambda: stand_in.times_revoked(ghp) == 1, 30)


@pytest.mark.parametrize(
    "name", [f"gitleaks-{GITLEAKS}.git-redacted.json", f"betterleaks-{BETTERLEAKS}.git-redacted.json"]
)
def test_a_redacted_report_is_answered_item_by_item_with_the_reason(
    client: tuple[TestClient, str], name: str
) -> None:
    """``--redact`` leaves nothing to scan: every item says so, rather than reading as 'no credential'."""
    c, token = client
    body = (FIXTURES / name).read_bytes()
    answer = c.post("/v1/reports", content=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 202, answer.text
    got = answer.json()
    assert got["credentials"] == [] and got["without_a_usable_credential"] == got["accepted"] > 0
    assert all("redacted by the scanner" in item["reason"] for item in got["items"])
