"""The whole life of an exposure against the emulator: each attribution branch, containment modes,
release, escalation, operators' actions, reopening, and investigation from both CloudTrail paths."""

from __future__ import annotations

import gzip
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import EventSink, member_credentials
from helpers import env_pair, exposure_of, key_for, respond, secret_for
from keysentry.app.wiring import build_responder
from keysentry.authority.clients import AwsClients
from keysentry.config.settings import Settings
from keysentry.emulator.cloudtrail import make_record
from keysentry.emulator.seed import SeedManifest
from keysentry.emulator.server import Emulator
from keysentry.respond.responder import ActionError
from keysentry.respond.steps import contain
from keysentry.respond.view import ExposureView
from keysentry.scan.pipeline import scan_targets
from keysentry.store.models import Exposure

V3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
RNG = random.Random(404)


def iam_in(clients: AwsClients, seeded: SeedManifest, account_id: str):
    creds = None if account_id == seeded.management_account else member_credentials(clients, account_id)
    return clients.client("iam", credentials=creds)


def leak(tmp_path: Path, text: str, name: str = "leak.env") -> Path:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- attribution branches ------------------------------------------------------------------
def test_a_temporary_key_is_traced_to_its_role_and_older_sessions_are_revoked(
    settings: Settings, admin_clients: AwsClients, seeded: SeedManifest, emulator: Emulator, tmp_path: Path
) -> None:
    account = next(a for a, n in seeded.accounts.items() if n == "workloads-prod")
    iam = iam_in(admin_clients, seeded, account)
    role = f"deployer-{uuid.uuid4().hex[:6]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            }
        ],
    }
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    sts = admin_clients.client("sts", credentials=member_credentials(admin_clients, account))
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci-job-42")["Credentials"]
    kid = creds["AccessKeyId"]
    assert emulator.cloudtrail is not None
    emulator.cloudtrail.add(
        "us-east-1",
        make_record(
            kid,
            "GetCallerIdentity",
            "2026-11-28T10:00:00Z",
            source="sts.amazonaws.com",
            identity={
                "type": "AssumedRole",
                "arn": f"arn:aws:sts::{account}:assumed-role/{role}/ci-job-42",
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn, "userName": role}},
            },
        ),
    )
    path = leak(
        tmp_path,
        f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={creds['SecretAccessKey']}\n"
        f"AWS_SESSION_TOKEN={creds['SessionToken']}\n",
    )
    responder, _results = respond(settings, path)
    e = exposure_of(responder, kid)
    assert (e.state, e.principal_type, e.principal_arn) == ("notified", "role-session", role_arn)
    assert e.containment and e.containment["kind"] == "revoke-role-sessions"
    document = iam.get_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    condition = document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert condition == e.containment["issued_before"][:19] + "Z"

    # Release removes the revocation and says who and why.
    responder.act(e.id, "release", "alice", "session credentials expired")
    with pytest.raises(Exception, match="NoSuchEntity"):
        iam.get_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")
    released = exposure_of(responder, kid)
    assert released.containment["released_by"] == "alice"
    assert released.timeline[-1].kind == "release.succeeded" and released.timeline[-1].actor == "alice"


def test_a_temporary_key_nobody_used_yet_is_unowned_but_announced(
    settings: Settings, tmp_path: Path, event_sink: EventSink
) -> None:
    responder = build_responder(settings)
    account = next(iter(responder.context.authority.organization_accounts()))
    kid = key_for(account, RNG, "ASIA")
    path = leak(tmp_path, f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret_for(RNG)}\n")
    responder, results = respond(settings, path)
    assert [(r.step, r.to_state) for r in results][:2] == [("attribute", "unowned"), ("notify", "notified")]
    assert "no CloudTrail event" in (exposure_of(responder, kid).state_reason or "")
    assert len(event_sink.events()) == 1


def test_a_canary_key_is_recorded_without_any_call(tmp_path: Path, database_url: str) -> None:
    nowhere = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        aws_endpoint_url="http://127.0.0.1:9",
        aws_max_attempts=1,
    )
    kid = key_for("052310077262", RNG)
    path = leak(tmp_path, f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret_for(RNG)}\n")
    responder, results = respond(nowhere, path)
    assert results == []  # any call would have failed against port 9
    e = exposure_of(responder, kid)
    assert e.state == "canary" and "canarytokens.org" in (e.state_reason or "")


def test_a_root_key_cannot_be_quarantined_and_is_escalated(settings: Settings) -> None:
    responder = build_responder(settings)
    view = ExposureView(
        id=1,
        credential_type="aws_access_key",
        key_id="AKIA",
        state="attributed",
        account_id="123456789012",
        account_name="management",
        principal_type="root",
        principal_name=None,
        principal_arn="arn:aws:iam::123456789012:root",
        containment=None,
        first_seen_at=None,
        detected_at=datetime.now(UTC),
        contained_at=None,
        sightings=(),
    )
    outcome = contain(responder.context, view)
    assert outcome.state == "escalated"
    assert outcome.changes["containment"]["severity"] == "critical"


# --- containment settings ----------------------------------------------------------------------
def test_notify_only_and_dry_run_attach_nothing_and_say_what_they_would_do(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
    tmp_path: Path,
) -> None:
    quiet, dry = new_user("workloads-dev"), new_user("workloads-prod")
    policy = {
        "rules": [
            {"principals": [f"*:user/{quiet.user_name}"], "mode": "notify_only"},
            {"accounts": [dry.account_id], "mode": "dry_run"},
        ]
    }
    configured = settings.model_copy(update={"response": type(settings.response).model_validate(policy)})
    path = leak(tmp_path, env_pair(quiet) + "\n\n\n\n\n\n\n\n" + env_pair(dry))
    responder, _ = respond(configured, path)
    for user, mode in ((quiet, "notify_only"), (dry, "dry_run")):
        e = exposure_of(responder, user.access_key_id)
        assert (e.state, e.mode) == ("notified", mode)
        assert e.containment and e.containment["applied"] is False and e.containment["would"]["kind"]
        assert V3 not in [
            p["PolicyArn"]
            for p in iam_in(admin_clients, seeded, user.account_id).list_attached_user_policies(
                UserName=user.user_name
            )["AttachedPolicies"]
        ]
    assert len(event_sink.events(expect=2)) == 2


def test_optional_escalation_deactivates_the_key_after_its_delay_and_never_deletes_it(
    settings: Settings, new_user, admin_clients: AwsClients, seeded: SeedManifest, tmp_path: Path
) -> None:
    user = new_user("workloads-prod")
    configured = settings.model_copy(
        update={"response": type(settings.response).model_validate({"deactivate_after": "0s"})}
    )
    responder, results = respond(configured, leak(tmp_path, env_pair(user)))
    assert ("deactivate", "notified", "notified") in [(r.step, r.from_state, r.to_state) for r in results]
    keys = iam_in(admin_clients, seeded, user.account_id).list_access_keys(UserName=user.user_name)
    assert [(k["AccessKeyId"], k["Status"]) for k in keys["AccessKeyMetadata"]] == [
        (user.access_key_id, "Inactive")
    ]
    assert exposure_of(responder, user.access_key_id).key_status == "Inactive"


def test_without_the_managed_policy_a_versioned_customer_copy_is_attached_and_kept_current(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keysentry.respond import policies

    bundled = policies.quarantine_policy()
    renamed = policies.QuarantinePolicy(
        bundled.version,
        "AWSCompromisedKeyQuarantineV99",
        f"KeysentryTestQuarantine{uuid.uuid4().hex[:6]}",
        bundled.document,
    )
    monkeypatch.setattr("keysentry.respond.steps.quarantine_policy", lambda: renamed)
    # A partition without it: the settings pin a version that is not there.
    settings = settings.model_copy(update={"quarantine_policy_name": renamed.aws_managed_name})
    first, second = new_user("workloads-dev"), new_user("workloads-dev")
    _responder, _ = respond(settings, leak(tmp_path, env_pair(first), "a.env"))
    arn = f"arn:aws:iam::{first.account_id}:policy/{renamed.customer_name}"
    iam = iam_in(admin_clients, seeded, first.account_id)
    assert arn in [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=first.user_name)["AttachedPolicies"]
    ]
    # A newer bundled document: the next containment updates the copy every user already carries.
    newer = {
        **bundled.document,
        "Statement": [
            *bundled.document["Statement"],
            {"Effect": "Deny", "Action": ["bedrock:CreateAgent"], "Resource": "*"},
        ],
    }
    monkeypatch.setattr(
        "keysentry.respond.steps.quarantine_policy",
        lambda: policies.QuarantinePolicy("v4", renamed.aws_managed_name, renamed.customer_name, newer),
    )
    respond(settings, leak(tmp_path, env_pair(second), "b.env"))
    default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]
    assert "bedrock:CreateAgent" in json.dumps(document) and default != "v1"


# --- operators and reopening -------------------------------------------------------------------
def test_operators_move_an_exposure_to_its_end_and_a_new_sighting_reopens_it(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    event_sink: EventSink,
    tmp_path: Path,
) -> None:
    user = new_user("workloads-prod")
    first = leak(tmp_path, env_pair(user), "first.env")
    responder, _ = respond(settings, first)
    e = exposure_of(responder, user.access_key_id)
    with pytest.raises(ActionError, match="needs a reason"):
        responder.act(e.id, "false_positive", "bob")
    with pytest.raises(ActionError, match="cannot reopen"):
        responder.act(e.id, "reopen", "bob", "why not")
    assert responder.act(e.id, "acknowledge", "bob") == "acknowledged"
    responder.act(e.id, "release", "bob", "key rotated")
    assert responder.act(e.id, "remediate", "bob", "rotated and reviewed") == "remediated"
    iam = iam_in(admin_clients, seeded, user.account_id)
    assert V3 not in [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user.user_name)["AttachedPolicies"]
    ]

    # The same pair turns up somewhere new: keysentry responds again, from the start.
    _, again = respond(settings, first, leak(tmp_path, env_pair(user), "elsewhere.env"))
    assert [(r.step, r.to_state) for r in again][:3] == [
        ("attribute", "attributed"),
        ("contain", "contained"),
        ("notify", "notified"),
    ]
    reopened = exposure_of(responder, user.access_key_id)
    assert reopened.reopened == 1 and "reopened" in [t.kind for t in reopened.timeline]
    assert V3 in [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user.user_name)["AttachedPolicies"]
    ]
    events = event_sink.events(expect=2)
    assert len({ev["detail"]["keysentry"]["notificationId"] for ev in events}) == 2
    actors = {(t.kind, t.actor) for t in reopened.timeline}
    assert {("acknowledge", "bob"), ("remediate", "bob"), ("release.succeeded", "bob")} <= actors


# --- investigation ---------------------------------------------------------------------------
def test_investigation_reads_lookup_events_and_trail_files_and_flags_what_an_attacker_did(
    settings: Settings,
    new_user,
    admin_clients: AwsClients,
    seeded: SeedManifest,
    emulator: Emulator,
    tmp_path: Path,
) -> None:
    user = new_user("workloads-prod")
    kid = user.access_key_id
    assert emulator.cloudtrail is not None
    ct = emulator.cloudtrail
    ct.add(
        "us-east-1",
        make_record(
            kid, "ListBuckets", "2026-11-27T10:00:00Z", ip="198.51.100.10", source="s3.amazonaws.com"
        ),
    )
    ct.add(
        "us-east-1",
        make_record(
            kid, "GetCallerIdentity", "2026-11-28T09:00:01Z", ip="203.0.113.66", source="sts.amazonaws.com"
        ),
    )
    ct.add(
        "us-east-1",
        make_record(
            kid,
            "CreateUser",
            "2026-11-28T09:00:05Z",
            ip="203.0.113.66",
            response={"user": {"userName": "backup-admin"}},
        ),
    )
    # An organization trail's log file, written to the emulator's S3 in the format trails use.
    s3 = admin_clients.client("s3")
    bucket = f"org-trail-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    day = datetime(2026, 11, 28, tzinfo=UTC)
    run = make_record(
        kid,
        "RunInstances",
        "2026-11-28T09:01:00Z",
        region="eu-west-3",
        ip="203.0.113.66",
        source="ec2.amazonaws.com",
        response={"instancesSet": {"items": [{"instanceId": "i-0abc"}, {"instanceId": "i-0abd"}]}},
    )
    key = (
        f"trail/AWSLogs/{seeded.organization_id}/{user.account_id}/CloudTrail/eu-west-3/"
        f"{day:%Y/%m/%d}/{user.account_id}_CloudTrail_eu-west-3_20261128T0905Z_x1.json.gz"
    )
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(json.dumps({"Records": [run]}).encode()))

    configured = settings.model_copy(update={"cloudtrail_bucket": bucket, "cloudtrail_prefix": "trail"})
    path = leak(tmp_path, env_pair(user))
    sighted = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    responder = build_responder(configured)
    ids = responder.record_report(scan_targets([str(path)]))
    with responder.store.session() as s:
        s.get(Exposure, ids[0]).first_seen_at = sighted  # type: ignore[union-attr]
    results = responder.advance_all(ids)
    assert ("investigate", "notified", "notified") in [(r.step, r.from_state, r.to_state) for r in results]
    e = exposure_of(responder, kid)
    latest = e.investigation["latest"]
    assert latest["events"] == 4 and latest["calls"]["RunInstances"] == 1
    flagged = {f["event"]: f["why"] for f in latest["flagged"]}
    assert "persistence" in flagged["CreateUser"]
    assert "eu-west-3" in flagged["RunInstances"]
    assert "not seen before" in flagged["GetCallerIdentity"]
    assert {c["id"] for c in latest["created"]} == {"backup-admin", "i-0abc", "i-0abd"}
    assert any(src.startswith("s3://") for src in latest["sources"])
    # CloudTrail delivers late: the next runs are scheduled at +15 min, +1 h and +24 h.
    due = [datetime.fromisoformat(d) for d in e.investigation["due"]]
    assert [round((d - due[0]).total_seconds() / 60) for d in due] == [0, 45, 1425]
    assert e.next_due_step == "investigate" and e.next_due_at == due[0]
    assert e.next_due_at - datetime.now(UTC) > timedelta(minutes=14)
