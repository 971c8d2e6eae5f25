"""Every credential is answered by its issuer, against local stand-ins that speak each real protocol:
GitHub's credential revocation API (batched, rate limit honoured), Slack's auth.revoke (dry run with
test=1), GitLab's admin token API, and notify-only for the rest.  Revoked once, announced once, the
token never stored."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import KEYSENTRY, exposure_of, github_token, gitlab_token, run_keysentry, slack_bot_token
from keysentry.app.wiring import build_responder
from keysentry.authority.github import GitHubRevocation
from keysentry.config.settings import Settings
from keysentry.content import Blob, Provenance
from keysentry.detect.aws_keys import fingerprint
from keysentry.emulator.issuers import IssuerStandIn
from keysentry.errors import Deferred
from keysentry.scan.pipeline import scan_blobs
from keysentry.store import open_store
from keysentry.store.models import Exposure, OutboxMessage, TimelineEvent


@pytest.fixture
def stand_in() -> Iterator[IssuerStandIn]:
    issuers = IssuerStandIn().start()
    yield issuers
    issuers.stop()


def with_issuers(settings: Settings, stand_in: IssuerStandIn, **response: object) -> Settings:
    return settings.model_copy(
        update={
            "issuers": Settings(issuers=stand_in.settings()).issuers,
            "response": Settings(response=response).response if response else settings.response,
        }
    )


def found_in(text: str, path: str = "config/ci.env"):  # type: ignore[no-untyped-def]
    return scan_blobs(
        [Blob(text.encode(), Provenance("git", path=path, repository="https://github.com/acme/app"))]
    )


def outbox(responder, exposure_id: int) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with responder.store.session() as s:
        return list(s.query(OutboxMessage).filter_by(exposure_id=exposure_id).order_by(OutboxMessage.id))


def test_github_tokens_are_revoked_in_one_batch_once_and_announced(
    settings: Settings, stand_in: IssuerStandIn
) -> None:
    rng = random.Random(1)
    tokens = [github_token(rng), github_token(rng, "gho_"), github_token(rng, "ghu_")]
    text = "".join(f"TOKEN_{n}={t}\n" for n, t in enumerate(tokens))
    responder = build_responder(with_issuers(settings, stand_in))
    responder.advance_all(responder.record_report(found_in(text)))
    assert stand_in.github_requests == [3]  # one request for the three
    assert [stand_in.times_revoked(t) for t in tokens] == [1, 1, 1]
    for token in tokens:
        e = exposure_of(responder, f"{token[:4]}…{fingerprint(token)[:8]}")
        assert e.state == "notified" and e.containment["applied"] is True
        assert (e.containment["issuer"], e.containment["call"]) == ("GitHub", "POST /credentials/revoke")
        kinds = [t.kind for t in e.timeline]
        assert kinds.count("contain.succeeded") == 1 and "contain.deferred" in kinds  # waited for its batch
        messages = outbox(responder, e.id)
        assert {m.channel for m in messages} == {"case", "eventbridge"}
        event = next(m.payload for m in messages if m.channel == "eventbridge")
        assert event["detail_type"] == "keysentry Credential Exposure"
        assert event["detail"]["issuer"] == "GitHub" and "revoke" in event["detail"]["description"]
        case = next(m.payload for m in messages if m.channel == "case")
        assert case["title"].endswith(": revoked") and "CloudTrail" not in case["markdown"]
    shown = run_keysentry(
        "exposures",
        "show",
        exposure_of(responder, f"{tokens[0][:4]}…{fingerprint(tokens[0])[:8]}").key_id,
        env={"KEYSENTRY_DATABASE_URL": settings.resolved_database_url(), "COLUMNS": "100"},
    )  # (it once looked for a quarantine policy's ARN in a revoked token's containment)
    assert shown.returncode == 0, shown.stderr
    assert "containment   revoked by GitHub (POST /credentials/revoke)" in shown.stdout
    # Seen again: the same exposures, nothing sent again.
    responder.advance_all(responder.record_report(found_in(text, "another/place.env")))
    assert stand_in.github_requests == [3]
    database = Path(settings.resolved_database_url().removeprefix("sqlite:///"))
    if database.exists():
        data = database.read_bytes()
        assert not any(t.encode() in data for t in tokens)


def test_the_github_rate_limit_is_waited_out_and_no_token_is_dropped(
    settings: Settings, stand_in: IssuerStandIn
) -> None:
    """Another client spent the hour's requests: keysentry's request is refused with 429, its tokens
    wait for the reset (here a 3-second window) and go in one request then."""
    stand_in.github_limit, stand_in.github_window = 1, 3.0
    stand_in.spend_github_budget()
    rng = random.Random(2)
    tokens = [github_token(rng) for _ in range(4)]
    responder = build_responder(with_issuers(settings, stand_in))
    started = time.monotonic()
    responder.advance_all(
        responder.record_report(found_in("\n".join(f"T{n}={t}" for n, t in enumerate(tokens))))
    )
    assert time.monotonic() - started >= 1.0  # it waited
    assert stand_in.github_limited == 1 and stand_in.github_requests == [4]
    assert [stand_in.times_revoked(t) for t in tokens] == [1, 1, 1, 1]
    deferred = [
        t.detail["reason"]
        for t in exposure_of(responder, f"ghp_…{fingerprint(tokens[0])[:8]}").timeline
        if t.kind == "contain.deferred"
    ]
    assert any("rate limit" in reason for reason in deferred)


def test_github_revocation_takes_a_thousand_tokens_a_request(stand_in: IssuerStandIn) -> None:
    rng = random.Random(3)
    tokens = [github_token(rng) for _ in range(1500)]
    # The batch is sent when it is full or has waited ``linger``: long enough here that a busy machine
    # queues all 1,500 requests before the first batch leaves (0.5 s was not, once, in CI).
    github = GitHubRevocation(stand_in.url, linger=3.0)

    def ask(token: str) -> object:
        try:
            return github.revoke(fingerprint(token), token.encode(), wait=0)
        except Deferred:
            return None

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(ask, tokens))
    deadline = time.monotonic() + 20
    while sum(stand_in.github_requests) < 1500 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(stand_in.github_requests, reverse=True)[0] == 1000
    assert sum(stand_in.github_requests) == 1500 and len(stand_in.github_requests) <= 3
    answers = [github.revoke(fingerprint(t), t.encode(), wait=5) for t in tokens[:3]]
    assert all(a.batch >= 1 for a in answers)
    assert max(stand_in.times_revoked(t) for t in tokens) == 1
    github.close()


def test_slack_tokens_are_attributed_and_revoke_themselves_and_a_dry_run_only_tests(
    settings: Settings, stand_in: IssuerStandIn
) -> None:
    rng = random.Random(4)
    live, unknown = slack_bot_token(rng), slack_bot_token(rng)
    stand_in.slack_token(live, team="Acme <Corp>", user="deploy-bot")
    dry = build_responder(with_issuers(settings, stand_in, issuers={"slack_token": "dry_run"}))
    dry.advance_all(dry.record_report(found_in(f"SLACK_BOT_TOKEN={live}\n")))
    e = exposure_of(dry, f"xoxb-…{fingerprint(live)[:8]}")
    assert (e.state, e.account_name, e.principal_name) == ("notified", "Acme <Corp>", "deploy-bot")
    assert e.containment["applied"] is False and "test=1" in e.containment["reason"]
    assert stand_in.slack_tests == {fingerprint(live): 1} and stand_in.slack_revoked == {}
    case = next(m.payload for m in outbox(dry, e.id) if m.channel == "case")
    assert "Acme" in case["markdown"] and "<Corp>" not in case["markdown"]  # the issuer's words, inert
    dry.store.dispose()

    wet = build_responder(with_issuers(settings, stand_in))
    wet.act(e.id, "close", "tests", resolution="wont_fix")
    wet.act(e.id, "reopen", "tests", "revoke it for real")
    wet.advance_all(wet.record_report(found_in(f"SLACK_BOT_TOKEN={live}\nOTHER={unknown}\n")))
    e = exposure_of(wet, e.key_id)
    assert e.state == "notified" and e.containment["applied"] is True
    assert stand_in.times_revoked(live) == 1
    gone = exposure_of(wet, f"xoxb-…{fingerprint(unknown)[:8]}")
    assert gone.state == "notified" and "invalid_auth" in gone.state_reason  # announced as unowned
    assert [t.detail.get("to_state") for t in gone.timeline if t.kind == "attribute.succeeded"] == ["unowned"]


def test_gitlab_tokens_are_revoked_with_an_admin_token_and_only_announced_without(
    settings: Settings, stand_in: IssuerStandIn
) -> None:
    rng = random.Random(5)
    token = gitlab_token(rng)
    stand_in.gitlab_token(token, username="release-bot")
    without = settings.model_copy(
        update={"issuers": Settings(issuers={"gitlab": {"url": stand_in.url}}).issuers}
    )
    responder = build_responder(without)
    responder.advance_all(responder.record_report(found_in(f"GITLAB_TOKEN={token}\n")))
    e = exposure_of(responder, f"glpat-…{fingerprint(token)[:8]}")
    assert e.state == "notified" and "no GitLab administrator token" in e.containment["reason"]
    assert stand_in.times_revoked(token) == 0
    responder.act(e.id, "close", "tests", resolution="wont_fix")
    responder.act(e.id, "reopen", "tests", "an admin token is configured now")
    responder.store.dispose()

    responder = build_responder(with_issuers(settings, stand_in))
    responder.advance_all(responder.record_report(found_in(f"GITLAB_TOKEN={token}\n")))
    e = exposure_of(responder, e.key_id)
    assert (e.state, e.principal_name, e.containment["applied"]) == ("notified", "release-bot", True)
    assert stand_in.times_revoked(token) == 1


def test_every_other_credential_is_announced_with_its_issuers_rotation_page(settings: Settings) -> None:
    body = base64.b64encode(random.Random(9).randbytes(300)).decode().rstrip("=")
    lone_token = f"# a session's token, pasted alone\nAWS_SESSION_TOKEN=IQoJb3JpZ2luX2Vj{body}\n"
    text = (
        "STRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc8aB3xY9q\n"
        "# the ID lives in the CI settings\nAWS_SECRET_ACCESS_KEY=Zp3v8Rk2LmQ9sT4uW6xY1aB5cD7eF0gH2iJ4kL6m\n"
    )
    text += "\n" * 7 + lone_token  # far from the secret: a token alone
    responder = build_responder(settings)
    responder.advance_all(responder.record_report(found_in(text)))
    with responder.store.session() as s:
        rows = {e.credential_type: e for e in s.query(Exposure)}
        stripe, secret, token = rows["stripe_key"], rows["aws_secret_access_key"], rows["aws_session_token"]
        assert stripe.state == secret.state == token.state == "notified"
        assert "https://dashboard.stripe.com/apikeys" in stripe.containment["reason"]
        assert "access key ID was not seen" in secret.containment["reason"]
        assert "revoke them" in token.containment["reason"]
        assert "id_roles_use_revoke-sessions.html" in token.containment["reason"]
    case = next(m.payload for m in outbox(responder, stripe.id) if m.channel == "case")
    assert "dashboard.stripe.com/apikeys" in case["markdown"] and "needs action" in case["title"]


@pytest.mark.parametrize("point", ["contain.before_call", "contain.after_call", "contain.after_record"])
def test_a_kill_around_the_revocation_revokes_at_most_once_and_announces_once(
    point: str, tmp_path: Path, emulator, seeded, stand_in: IssuerStandIn
) -> None:
    token = github_token(random.Random(6))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ci.env").write_text(f"GITHUB_TOKEN={token}\n")
    db = f"sqlite:///{tmp_path / 'k.db'}"
    env = dict(
        os.environ,
        KEYSENTRY_AWS_ENDPOINT_URL=emulator.endpoint,
        KEYSENTRY_AWS_SERVICE_ENDPOINTS=json.dumps(emulator.service_endpoints),
        KEYSENTRY_DATABASE_URL=db,
        KEYSENTRY_DELIVERY_LEASE="0s",
        KEYSENTRY_ISSUERS=json.dumps(stand_in.settings()),
    )
    crashed = subprocess.run(
        [KEYSENTRY, "respond", str(tmp_path / "src")],
        env={**env, "KEYSENTRY_CRASH_AT": point},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    sent_before = stand_in.times_revoked(token)
    assert sent_before == (0 if point == "contain.before_call" else 1)
    resumed = subprocess.run(
        [KEYSENTRY, "respond"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert stand_in.times_revoked(token) == sent_before  # the token was never stored: nothing more sent
    store = open_store(db)
    with store.session() as s:
        [e] = s.query(Exposure).all()
        kinds = [t.kind for t in s.query(TimelineEvent).order_by(TimelineEvent.id)]
        assert e.state == "notified", kinds
        assert kinds.count("contain.succeeded") == 1 and kinds.count("notify.queued") == 1, kinds
        if point == "contain.after_record":
            assert e.containment["applied"] is True
        else:  # the token died with the process: a person is asked to act, saying what may have happened
            assert e.containment["applied"] is False
            # Killed with its step begun, keysentry cannot know whether the request went out: it says so.
            assert e.containment["may_be_revoked"] is True
            assert "github.com/settings/tokens" in e.containment["reason"]
    store.dispose()
    assert token.encode() not in Path(db.removeprefix("sqlite:///")).read_bytes()
