"""A key that was not contained never looks like one that was: the outcome (a word, never colour alone,
and the reason) comes first in the CLI, the API and the dashboard; the remediation steps fit what
happened; the account's name is the one Organizations gives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import env_pair, exposure_of, respond, run_keysentry
from keysentry.authority.clients import AwsClients
from keysentry.config.settings import Settings
from keysentry.emulator.seed import SeedManifest
from keysentry.respond.outcome import outcome_of
from keysentry.service.app import create_app
from keysentry.store import open_store
from keysentry.store.tokens import create_token

V3 = "AWSCompromisedKeyQuarantineV3"


CASES = [
    ("notified", {"applied": True, "policy_name": V3, "target": "arn:u"}, None, "contained", V3),
    (
        "acknowledged",
        {"applied": True, "kind": "revoke-role-sessions", "target": "arn:r", "issued_before": "T"},
        None,
        "contained",
        "sessions of arn:r issued before T denied",
    ),
    (
        "notified",
        {
            "applied": True,
            "policy_name": V3,
            "released_at": "T",
            "released_by": "ana",
            "release_reason": "ok",
        },
        None,
        "released",
        "released at T by ana: ok",
    ),
    (
        "notified",
        {"applied": True, "kind": "revoked", "issuer": "GitHub", "call": "credential revocation"},
        None,
        "revoked",
        "revoked by GitHub",
    ),
    (
        "notified",
        {"applied": False, "why": "unowned", "reason": "IAM in account 1 does not know this key"},
        None,
        "not contained",
        "IAM in account 1 does not know this key",
    ),
    (
        "closed",
        {"applied": False, "mode": "notify_only", "reason": "settings say so"},
        "fixed",
        "not contained",
        "settings say so",
    ),
    (
        "unowned",
        None,
        "IAM in account 1 does not know this key",
        "not contained",
        "does not know this key",
    ),
    ("failed", None, "contain failed: AccessDenied", "not contained", "contain failed: AccessDenied"),
    ("example", None, "documentation example", "not acted on", "documentation example"),
    ("canary", None, "Thinkst Canary", "not acted on", "a canary key"),
    ("unconfirmed", None, None, "not acted on", "low confidence"),
    ("new", None, None, "pending", "not answered yet"),
    ("attributed", None, None, "pending", "being answered"),
    ("notified", {"applied": True, "policy_name": V3, "released_at": None}, None, "contained", V3),
    ("example", {"applied": False, "reason": "reopened, then not ours"}, None, "not contained", "not ours"),
]


@pytest.mark.parametrize(("state", "containment", "reason", "word", "says"), CASES)
def test_the_outcome_says_what_was_done_or_why_not(
    state: str, containment: dict | None, reason: str | None, word: str, says: str
) -> None:
    outcome = outcome_of(state, containment, reason)
    assert outcome.word == word
    assert says in outcome.reason
    assert outcome.contained == (word in ("contained", "revoked"))


def test_filtering_by_outcome_in_the_database_agrees_with_the_outcome_shown(database_url: str) -> None:
    """The dashboard, the API and the CLI filter by outcome in SQL (SQLite and PostgreSQL): every case
    above is found under the word it is shown with, and under no other."""
    from keysentry.respond.outcome import WORDS, outcome_is
    from keysentry.store.models import Exposure
    from keysentry.store.queries import ExposureFilter, count_exposures, sorted_exposures

    store = open_store(database_url)
    with store.session() as session:
        for n, (state, containment, reason, _, _) in enumerate(CASES):
            session.add(
                Exposure(
                    credential_type="aws_access_key",
                    rule_id="aws-access-key",
                    key_id=f"AKIAOUTCOME{n:09d}",
                    state=state,
                    state_reason=reason,
                    containment=containment,
                )
            )
    with store.session() as session:
        for word in WORDS:
            f = ExposureFilter(where=(outcome_is(word),))
            found = {e.key_id for e in sorted_exposures(session, f, "newest", 100, 0)}
            expected = {f"AKIAOUTCOME{n:09d}" for n, case in enumerate(CASES) if case[3] == word}
            assert found == expected, word
            assert count_exposures(session, f) == len(expected)
        assert count_exposures(session, ExposureFilter(where=(outcome_is("gone fishing"),))) == 0
    store.dispose()


@pytest.fixture
def answered(settings: Settings, new_user, admin_clients: AwsClients, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Two exposures answered: one contained, one whose key IAM no longer knows (deleted first)."""
    from conftest import member_credentials

    settings = settings.model_copy(update={"investigation_delays": []})
    contained, gone = new_user("workloads-dev"), new_user("workloads-prod")
    iam = admin_clients.client("iam", credentials=member_credentials(admin_clients, gone.account_id))
    iam.delete_access_key(UserName=gone.user_name, AccessKeyId=gone.access_key_id)
    (tmp_path / "a.env").write_text(env_pair(contained))
    (tmp_path / "b.env").write_text(env_pair(gone))
    responder, _ = respond(settings, tmp_path / "a.env", tmp_path / "b.env")
    assert exposure_of(responder, gone.access_key_id).state == "notified"  # announced, like the other
    responder.store.dispose()
    return settings, contained, gone


def test_a_key_iam_does_not_know_reads_not_contained_everywhere(answered) -> None:  # type: ignore[no-untyped-def]
    settings, contained, gone = answered
    why = f"IAM in account {gone.account_id} does not know this key"
    env = {"KEYSENTRY_DATABASE_URL": settings.resolved_database_url(), "COLUMNS": "100"}

    listed = run_keysentry("exposures", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {
        k: next(line for line in listed.stdout.splitlines() if k in line)
        for k in (gone.access_key_id, contained.access_key_id)
    }
    assert "not contained" in rows[gone.access_key_id] and "contained" in rows[contained.access_key_id]
    assert "not contained" not in rows[contained.access_key_id]
    assert all(len(line) <= 100 for line in listed.stdout.splitlines())

    shown = run_keysentry("exposures", "show", gone.access_key_id, env=env)
    assert re.search(rf"outcome +not contained: {re.escape(why)}", shown.stdout), shown.stdout

    records = [json.loads(line) for line in run_keysentry("exposures", "--json", env=env).stdout.splitlines()]
    by_key = {r["key_id"]: r for r in records}
    assert by_key[gone.access_key_id]["outcome"] == "not contained"
    assert (
        by_key[gone.access_key_id]["contained"] is False
        and why in by_key[gone.access_key_id]["outcome_reason"]
    )
    assert by_key[contained.access_key_id]["contained"] is True

    store = open_store(settings.resolved_database_url())
    token = create_token(store, "viewer-person", "viewer")
    store.dispose()
    with TestClient(create_app(settings, background=False)) as client:
        items = client.get("/v1/exposures", headers={"Authorization": f"Bearer {token}"}).json()["items"]
        api = {i["key_id"]: i for i in items}
        assert (
            api[gone.access_key_id]["outcome"] == "not contained"
            and why in api[gone.access_key_id]["outcome_reason"]
        )
        assert api[contained.access_key_id]["outcome"] == "contained"
        client.post("/login", data={"token": token})
        index = client.get("/").text
        assert '<span class="badge bad">not contained</span>' in index and why in index
        assert '<span class="badge good">contained</span>' in index
        page = client.get(f"/exposures/{api[gone.access_key_id]['id']}").text
        assert '<span class="badge bad">not contained</span>' in page and why in page
        # The steps fit a key with no user to quarantine: nothing to keep attached, no user's key.
        steps = re.search(r'<ol id="remediation">(.*?)</ol>', page, re.S).group(1)  # type: ignore[union-attr]
        assert "quarantine" not in steps.lower() and "DeleteAccessKey" in steps
        assert "second access key for the user" not in steps


def test_without_containment_the_steps_do_not_say_keep_the_quarantine(
    settings: Settings, new_user, tmp_path: Path
) -> None:
    response = type(settings.response).model_validate({"mode": "notify_only"})
    settings = settings.model_copy(update={"investigation_delays": [], "response": response})
    user = new_user("workloads-dev")
    (tmp_path / "a.env").write_text(env_pair(user))
    responder, _ = respond(settings, tmp_path / "a.env")
    e = exposure_of(responder, user.access_key_id)
    from keysentry.respond.announcement import remediation_for
    from keysentry.respond.view import ExposureView

    steps = remediation_for(ExposureView.of(e))
    assert steps[0].startswith("Nothing was attached to the user")
    assert not any("Keep the quarantine policy attached" in s for s in steps)
    assert outcome_of(e.state, e.containment, e.state_reason).word == "not contained"
    responder.store.dispose()


def test_the_management_account_has_the_name_organizations_gives_it(
    seeded: SeedManifest, admin_clients: AwsClients, settings: Settings, new_user, tmp_path: Path
) -> None:
    org = admin_clients.client("organizations")
    given = org.describe_account(AccountId=seeded.management_account)["Account"]["Name"]
    assert seeded.accounts[seeded.management_account] == given
    user = new_user("management")
    (tmp_path / "a.env").write_text(env_pair(user))
    responder, _ = respond(settings.model_copy(update={"investigation_delays": []}), tmp_path / "a.env")
    assert exposure_of(responder, user.access_key_id).account_name == given
    responder.store.dispose()


def test_the_list_fits_a_narrow_terminal_and_never_shortens_a_key(answered) -> None:  # type: ignore[no-untyped-def]
    settings, contained, gone = answered
    for columns in ("80", "60"):
        listed = run_keysentry(
            "exposures", env={"KEYSENTRY_DATABASE_URL": settings.resolved_database_url(), "COLUMNS": columns}
        )
        lines = listed.stdout.splitlines()
        assert all(len(line) <= int(columns) for line in lines), listed.stdout
        for key in (contained.access_key_id, gone.access_key_id):
            assert any(key in line for line in lines), listed.stdout
        assert "…" not in listed.stdout


def test_the_timeline_reads_as_sentences(answered) -> None:  # type: ignore[no-untyped-def]
    from keysentry.respond.timeline_text import sentence

    assert (
        sentence(
            "attribute.succeeded",
            {"account": "123456789012", "account_name": "prod", "how": "sts:GetAccessKeyInfo"},
        )
        == "attributed to account 123456789012 (prod) via sts:GetAccessKeyInfo"
    )
    assert sentence(
        "contain.succeeded", {"applied": True, "policy_name": V3, "target": "arn:aws:iam::1:user/deploy-bot"}
    ) == (f"quarantine {V3} attached to arn:aws:iam::1:user/deploy-bot")
    assert sentence(
        "close", {"resolution": "wont_fix", "reason": "a sandbox", "was": "acknowledged"}, "dashboard:ana"
    ) == ("closed as won't fix (was acknowledged): a sandbox — by dashboard:ana")
    assert sentence("assign", {"assignee": "ana", "was": "bo"}, "api:lead") == (
        "assigned to ana (was bo) — by api:lead"
    )
    settings, contained, _ = answered
    store = open_store(settings.resolved_database_url())
    token = create_token(store, "viewer-person", "viewer")
    store.dispose()
    with TestClient(create_app(settings, background=False)) as client:
        client.post("/login", data={"token": token})
        listed = client.get("/", params={"q": contained.access_key_id}).text
        number = re.search(r'<a href="/exposures/(\d+)">', listed).group(1)  # type: ignore[union-attr]
        page = client.get(f"/exposures/{number}").text
    timeline = re.search(r'<ol id="timeline".*?</ol>', page, re.S).group(0)  # type: ignore[union-attr]
    assert f"quarantine {V3} attached to arn:aws:iam::" in timeline
    assert "attributed to account" in timeline and "<details><summary>details</summary>" in timeline
    assert "\\u003c" not in timeline and '{"' not in timeline
    assert re.search(
        r'<time datetime="\d{4}-\d\d-\d\dT[^"]+" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>',
        timeline,
    )


def test_the_list_draws_latency_and_sources_as_svg_on_the_server(answered) -> None:  # type: ignore[no-untyped-def]
    settings, _, _ = answered
    store = open_store(settings.resolved_database_url())
    token = create_token(store, "viewer-person", "viewer")
    store.dispose()
    with TestClient(create_app(settings, background=False)) as client:
        client.post("/login", data={"token": token})
        index = client.get("/", params={"show": "all"}).text
    latency = re.search(r'<figure class="card" id="latency-chart">(.*?)</figure>', index, re.S).group(1)  # type: ignore[union-attr]
    assert latency.startswith('<svg class="chart" role="img" aria-label="Median time to containment')
    # One exposure was contained: one point on the detected → contained line, with its value on hover.
    assert latency.count('<circle class="dot detected"') == 1
    assert re.search(r"<title>\d{4}-\d\d-\d\d: detected → contained [\d.]+ s</title>", latency)
    sources = re.search(r'<figure class="card" id="sources-chart">(.*?)</figure>', index, re.S).group(1)  # type: ignore[union-attr]
    assert (
        '<text class="axis" x="150" y="42" text-anchor="end">file</text>' in sources
        and ">2</text>" in sources
    )
    assert re.findall(r"<script[^>]*>", index) == ['<script src="/static/local-time.js" defer>']


def test_chart_labels_are_escaped() -> None:
    from keysentry.service.chart import DayLatency, latency_chart, sources_chart

    hostile = '<script>alert(1)</script>"'
    assert "<script>" not in sources_chart([(hostile, 3)]) and "&lt;script&gt;" in sources_chart(
        [(hostile, 3)]
    )
    drawn = latency_chart([DayLatency("2026-12-01", 4.0, None), DayLatency("2026-12-02", 9.0, 3600.0)])
    assert drawn.count("<circle") == 3 and "2026-12-02: leaked → contained 60 min" in drawn


def test_a_sub_second_chart_says_how_much_below_a_second_and_shows_both_dots() -> None:
    from keysentry.service.chart import DayLatency, latency_chart

    drawn = latency_chart([DayLatency("2026-12-07", 0.4, 0.4)])
    labels = re.findall(r'text-anchor="end">([^<]+)</text>', drawn)
    assert labels == ["0 s", "0.12 s", "0.25 s", "0.38 s", "0.5 s"]  # not five times "0 s"
    leaked, detected = re.findall(r'<circle class="dot (\w+)" cx="[\d.]+" cy="[\d.]+" r="([\d.]+)"', drawn)
    assert leaked == ("leaked", "4.5") and detected == ("detected", "3")  # the smaller drawn on top
