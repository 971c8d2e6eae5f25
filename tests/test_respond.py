"""Responding for real against the emulator: attribution, quarantine, the Health-compatible event,
idempotence, the side exits (example, not ours, unowned), and a failed delivery retried."""

from __future__ import annotations

import json
import random
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from conftest import EventSink, member_credentials
from helpers import commit_file, env_pair, exposure_of, key_for, respond, secret_for, wait_for
from keysentry.app.wiring import build_responder
from keysentry.authority.clients import AwsClients
from keysentry.clock import ManualClock
from keysentry.config.settings import Settings
from keysentry.detect.aws_keys import fingerprint
from keysentry.emulator.seed import SeedManifest
from keysentry.store.models import DeliveryAttempt, OutboxMessage, TimelineEvent

V3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"


def attached(clients: AwsClients, seeded: SeedManifest, account_id: str, user: str) -> list[str]:
    creds = None if account_id == seeded.management_account else member_credentials(clients, account_id)
    iam = clients.client("iam", credentials=creds)
    return [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]


def test_a_member_account_key_is_attributed_contained_and_announced(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
    tmp_path: Path,
) -> None:
    user = new_user("workloads-prod")
    repo = tmp_path / "service"
    commit = commit_file(
        repo, "config/prod.env", env_pair(user), "add prod config", when="2026-11-01T10:00:00+00:00"
    )
    responder, results = respond(settings, repo)

    assert [(r.step, r.to_state) for r in results] == [
        ("attribute", "attributed"),
        ("contain", "contained"),
        ("notify", "notified"),  # the announcement, queued with containment, delivered
        ("investigate", "notified"),  # CloudTrail read at once, and again later
    ]
    e = exposure_of(responder, user.access_key_id)
    assert (e.state, e.account_id, e.account_name) == ("notified", user.account_id, "workloads-prod")
    assert (e.principal_type, e.principal_name, e.principal_arn) == ("iam-user", user.user_name, user.arn)
    assert e.key_status == "Active"
    assert e.secret_fingerprint == fingerprint(user.secret_access_key)
    assert (
        e.containment and e.containment["policy_arn"] == V3 and e.containment["policy_kind"] == "aws-managed"
    )
    assert e.first_seen_at is not None and e.first_seen_at.isoformat() == "2026-11-01T10:00:00+00:00"
    assert e.detected_at <= e.contained_at <= e.notified_at  # type: ignore[operator]
    [sighting] = e.sightings
    assert (sighting.commit, sighting.path, sighting.line) == (commit, "config/prod.env", 1)
    kinds = [t.kind for t in e.timeline]
    assert kinds == [
        "detected",
        "sighted",
        "attribute.started",
        "attribute.succeeded",
        "contain.started",
        "contain.succeeded",
        "notify.queued",
        "notify.sent",  # the case, kept in keysentry
        "notify.sent",  # the event on EventBridge: the owner is told
        "notified",
        "investigate.started",
        "investigate.succeeded",
    ]
    assert attached(admin_clients, seeded, user.account_id, user.user_name).count(V3) == 1

    [event] = event_sink.events()
    assert (event["source"], event["detail-type"]) == ("keysentry", "AWS Health Event")
    d = event["detail"]
    assert (d["service"], d["eventTypeCategory"], d["eventTypeCode"]) == (
        "RISK",
        "issue",
        "AWS_RISK_CREDENTIALS_EXPOSED",
    )
    assert d["affectedEntities"][0]["entityValue"] == user.access_key_id
    assert d["eventMetadata"] == {
        "accountId": user.account_id,
        "publicKey": user.access_key_id,
        "userName": user.user_name,
        "exposedUrl": str(repo.resolve()),
        "truncated": "false",
    }
    assert d["keysentry"]["containment"]["policy_arn"] == V3
    assert d["keysentry"]["source"]["commit"] == commit
    assert user.secret_access_key not in json.dumps(event)


def test_a_second_run_changes_nothing_and_attaches_nothing_twice(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
    tmp_path: Path,
) -> None:
    user = new_user("workloads-dev")
    (tmp_path / "leak.env").write_text(env_pair(user))
    responder, _ = respond(settings, tmp_path / "leak.env")
    with responder.store.session() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(TimelineEvent))
    _, again = respond(settings, tmp_path / "leak.env")
    assert again == []
    with responder.store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(TimelineEvent)) == before
    assert attached(admin_clients, seeded, user.account_id, user.user_name).count(V3) == 1
    assert len(event_sink.events(expect=2, attempts=3)) == 1


def test_a_key_of_the_management_account_is_handled_without_assuming_a_role(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    tmp_path: Path,
) -> None:
    user = new_user("management")
    (tmp_path / "leak.env").write_text(env_pair(user))
    responder, results = respond(settings, tmp_path / "leak.env")
    assert results[-1].to_state == "notified"
    e = exposure_of(responder, user.access_key_id)
    assert (e.account_id, e.principal_name) == (seeded.management_account, user.user_name)
    assert V3 in attached(admin_clients, seeded, user.account_id, user.user_name)


def test_a_key_of_a_foreign_account_is_not_ours_and_nothing_is_attached(
    settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(5)
    foreign = key_for("999988887777", rng)  # an account outside the organization
    (tmp_path / "leak.env").write_text(
        f"AWS_ACCESS_KEY_ID={foreign}\nAWS_SECRET_ACCESS_KEY={secret_for(rng)}\n"
    )
    responder, results = respond(settings, tmp_path / "leak.env")
    e = exposure_of(responder, foreign)
    assert [(r.step, r.to_state) for r in results] == [("attribute", "not_ours")]
    assert e.state == "not_ours" and "not in our organization" in (e.state_reason or "")


def test_documentation_examples_stop_without_any_call_to_aws(tmp_path: Path, database_url: str) -> None:
    nowhere = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        aws_endpoint_url="http://127.0.0.1:9",
        aws_max_attempts=1,
    )
    (tmp_path / "README.md").write_text(
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    )
    responder, results = respond(nowhere, tmp_path / "README.md")
    assert results == []  # any call would have failed against port 9
    e = exposure_of(responder, "AKIAIOSFODNN7EXAMPLE")
    assert e.state == "example" and e.state_reason == "documentation example key ID"


def test_a_key_already_deleted_in_iam_is_unowned_and_still_announced(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    event_sink: EventSink,
    tmp_path: Path,
) -> None:
    user = new_user("workloads-prod")
    iam = admin_clients.client("iam", credentials=member_credentials(admin_clients, user.account_id))
    iam.delete_access_key(UserName=user.user_name, AccessKeyId=user.access_key_id)
    (tmp_path / "leak.env").write_text(env_pair(user))
    responder, results = respond(settings, tmp_path / "leak.env")
    assert [(r.step, r.to_state) for r in results][:2] == [("attribute", "unowned"), ("notify", "notified")]
    assert "does not know this key" in (exposure_of(responder, user.access_key_id).state_reason or "")
    [event] = event_sink.events()
    assert event["detail"]["eventMetadata"]["userName"] == ""
    assert "No quarantine was applied" in event["detail"]["eventDescription"][0]["latestDescription"]


def test_a_failed_delivery_is_retried_after_its_backoff_and_sent_once(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
    tmp_path: Path,
    clock: ManualClock,
) -> None:
    user = new_user("workloads-dev")
    (tmp_path / "leak.env").write_text(env_pair(user))
    # Long enough that the rest of the round (CloudTrail read at once) cannot outlast it on a slow machine:
    # the retry waits 1 to 2 s (the upper half of the backoff, with jitter).
    backoff = timedelta(seconds=2)
    settings = settings.model_copy(update={"investigation_delays": [], "delivery_backoff": backoff})
    broken = settings.model_copy(update={"event_bus_name": "no-such-bus"})
    responder, results = respond(broken, tmp_path / "leak.env")
    assert [(r.step, r.to_state) for r in results][:2] == [
        ("attribute", "attributed"),
        ("contain", "contained"),
    ]
    [failure] = [r for r in results if r.step == "notify"]
    assert failure.error and "no-such-bus" in failure.error
    e = exposure_of(responder, user.access_key_id)
    assert (e.state, e.notified_at) == ("contained", None)  # contained; the message waits for its retry
    assert "notify.failed" in [t.kind for t in e.timeline]
    assert responder.dispatcher.waiting()[0] == 1

    clock.advance(backoff)
    resumed = build_responder(settings).advance_all()
    assert [(r.step, r.from_state, r.to_state) for r in resumed if r.step == "notify"] == [
        ("notify", "contained", "notified")
    ]
    assert attached(admin_clients, seeded, user.account_id, user.user_name).count(V3) == 1
    assert len(event_sink.events()) == 1
    with responder.store.session() as s:
        [message] = s.query(OutboxMessage).filter_by(channel="eventbridge").all()
        tries = [
            (a.ok, bool(a.error))
            for a in s.query(DeliveryAttempt).filter_by(message_id=message.id).order_by(DeliveryAttempt.id)
        ]
    assert (message.state, message.attempts) == ("sent", 2)
    assert tries == [(False, True), (True, False)]
    assert build_responder(settings).advance_all() == []  # sent once, never again
    assert event_sink.events(attempts=2) == []


def test_the_service_backs_off_a_failing_step_and_an_operator_retries_at_once(
    tmp_path: Path, database_url: str, clock: ManualClock
) -> None:
    """AWS unreachable: the service's worker retries after 2, 4, 8 … seconds, not at every round;
    `keysentry respond` (an operator) retries at once."""
    from keysentry.respond.worker import ResponseWorker
    from keysentry.scan.pipeline import scan_targets

    nowhere = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        aws_endpoint_url="http://127.0.0.1:9",
        aws_max_attempts=1,
    )
    rng = random.Random(41)
    kid = key_for("123456789012", rng)
    (tmp_path / "leak.env").write_text(f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret_for(rng)}\n")
    responder = build_responder(nowhere)
    responder.record_report(scan_targets([str(tmp_path / "leak.env")]))
    worker = ResponseWorker(responder, interval=0.2)
    worker.start(rounds=False)
    for _ in range(18):  # 3.5 s of the scheduler's rounds, on keysentry's clock
        worker.round()
        assert worker.settle()
        clock.advance(0.2)
    worker.stop()

    def failures() -> int:
        return [t.kind for t in exposure_of(responder, kid).timeline].count("attribute.failed")

    assert exposure_of(responder, kid).state == "failed"
    before = failures()
    assert 1 <= before <= 3  # at 0 s and 2 s (then 6 s), not every round
    responder.advance_all()  # what `keysentry respond` does: at once, whatever the backoff
    assert failures() == before + 1


def test_the_service_responds_to_what_is_recorded_without_waiting_for_its_next_round(
    settings: Settings, new_user, admin_clients: AwsClients, seeded: SeedManifest, tmp_path: Path
) -> None:
    """Intake hands what it commits to the running worker: contained long before the worker would next
    ask the database (an hour here), and a key recorded while its response runs is not dropped."""
    from keysentry.respond.worker import ResponseWorker
    from keysentry.scan.pipeline import scan_targets

    responder = build_responder(settings)
    worker = ResponseWorker(responder, interval=3600)
    worker.start()
    try:
        assert wait_for(lambda: worker.rounds >= 1)  # its first round (the database is empty) is over
        users = [new_user("workloads-prod"), new_user("workloads-dev")]
        for n, user in enumerate(users):
            (tmp_path / f"leak-{n}.env").write_text(env_pair(user))
            responder.record_report(scan_targets([str(tmp_path / f"leak-{n}.env")]))
            responder.record_report(scan_targets([str(tmp_path / f"leak-{n}.env")]))  # reported twice
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(exposure_of(responder, u.access_key_id).state == "notified" for u in users):
                break
            time.sleep(0.1)
    finally:
        worker.stop()
    for user in users:
        e = exposure_of(responder, user.access_key_id)
        assert e.state == "notified"
        assert [t.kind for t in e.timeline].count("contain.succeeded") == 1
        assert attached(admin_clients, seeded, user.account_id, user.user_name).count(V3) == 1


def test_a_sighting_recorded_while_the_key_is_being_contained_is_kept_and_announced(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
    tmp_path: Path,
    monkeypatch,
) -> None:
    """Intake does not wait for a response: a report of the same key from an older commit arrives while
    the quarantine is being attached.  The containment is recorded on the exposure as intake left it,
    and the announcement says when the key was really first exposed."""
    from keysentry.respond import steps
    from keysentry.scan.pipeline import scan_targets

    user = new_user("workloads-prod")
    recent = commit_file(tmp_path / "recent", "prod.env", env_pair(user), when="2026-11-20T10:00:00+00:00")
    older = commit_file(tmp_path / "older", "prod.env", env_pair(user), when="2026-10-01T08:00:00+00:00")
    responder = build_responder(settings)
    responder.record_report(scan_targets([str(tmp_path / "recent")]))
    contain = steps.STEPS["contain"]

    def contain_while_reported_again(context, view):  # type: ignore[no-untyped-def]
        responder.record_report(scan_targets([str(tmp_path / "older")]))  # intake, meanwhile
        return contain(context, view)

    monkeypatch.setitem(steps.STEPS, "contain", contain_while_reported_again)
    results = responder.advance_all()
    assert [(r.step, r.to_state) for r in results][:3] == [
        ("attribute", "attributed"),
        ("contain", "contained"),
        ("notify", "notified"),
    ]
    e = exposure_of(responder, user.access_key_id)
    assert e.state == "notified" and e.containment["policy_arn"] == V3
    assert {s.commit for s in e.sightings} == {recent, older}
    assert e.first_seen_at.isoformat() == "2026-10-01T08:00:00+00:00"
    assert attached(admin_clients, seeded, user.account_id, user.user_name).count(V3) == 1
    [event] = event_sink.events()
    assert event["detail"]["keysentry"]["firstSeenAt"] == "2026-10-01T08:00:00Z"
