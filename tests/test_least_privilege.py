"""The whole response under exactly the IAM policies in docs/iam/, with IAM enforcement on."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from helpers import env_pair
from keysentry.app.wiring import build_responder
from keysentry.authority.clients import AwsClients, Credentials
from keysentry.config.settings import Settings
from keysentry.emulator.seed import ADMIN, SeededUser, SeedManifest, seed_demo
from keysentry.emulator.server import Emulator
from keysentry.scan.pipeline import scan_targets
from keysentry.store.models import Exposure

DOCS = Path(__file__).resolve().parents[1] / "docs" / "iam"
V3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
ROLE = "KeysentryResponder"


def document(name: str, drop: str | None = None) -> str:
    text = (DOCS / name).read_text().replace("YOUR-TRAIL-BUCKET", "trail-bucket")
    policy = json.loads(text)
    for statement in policy["Statement"]:
        # The emulator cannot evaluate condition keys such as iam:PolicyARN (it treats them as unmet), so
        # conditions are applied by hand-review only; actions and resources are exactly as documented.
        statement.pop("Condition", None)
        # It also matches every action but sts:AssumeRole against Resource "*" only.
        if statement["Action"] != "sts:AssumeRole":
            statement["Resource"] = "*"
    if drop:
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in actions if a != drop] or ["iam:GetUser"]
    return json.dumps(policy)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    with Emulator(log_path=tmp_path_factory.mktemp("emu") / "emulator.log") as emulator:
        admin = AwsClients(Settings(aws_endpoint_url=emulator.endpoint))
        seed = seed_demo(admin, emulator.endpoint)
        yield emulator, admin, seed


def principal(admin: AwsClients, seed: SeedManifest, drop: str | None) -> tuple[Credentials, str]:
    """keysentry's own user holding exactly the documented policy, and the member role it assumes."""
    iam = admin.client("iam")
    name = f"keysentry-{uuid.uuid4().hex[:6]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    policy = iam.create_policy(
        PolicyName=name, PolicyDocument=document("management-account-policy.json", drop)
    )
    iam.attach_user_policy(UserName=name, PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName=name)["AccessKey"]
    trust = json.loads((DOCS / "member-role-trust.json").read_text())
    trust["Statement"][0]["Principal"]["AWS"] = arn
    sts = admin.client("sts")
    role = ROLE  # the name the documented management policy may assume
    for account in seed.accounts:
        if account == seed.management_account:
            continue
        c = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="setup"
        )["Credentials"]
        member = admin.client(
            "iam", credentials=Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        )
        try:  # one role per account; each test hands it to its own principal, with its own policy
            member.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
        except member.exceptions.EntityAlreadyExistsException:
            member.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
        member.put_role_policy(
            RoleName=role, PolicyName="keysentry", PolicyDocument=document("member-role-policy.json", drop)
        )
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"]), role


def leaked_user(admin: AwsClients, seed: SeedManifest) -> SeededUser:
    account = next(a for a, n in seed.accounts.items() if n == "workloads-prod")
    c = admin.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="setup"
    )["Credentials"]
    iam = admin.client(
        "iam", credentials=Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    )
    name = f"app-{uuid.uuid4().hex[:6]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return SeededUser(account, "workloads-prod", name, arn, key["AccessKeyId"], key["SecretAccessKey"])


def run(world, tmp_path: Path, drop: str | None):
    emulator, admin, seed = world
    emulator.enforce_iam(False)
    ours, role = principal(admin, seed, drop)
    user = leaked_user(admin, seed)
    (tmp_path / "leak.env").write_text(env_pair(user))
    settings = Settings(
        data_dir=tmp_path,
        aws_endpoint_url=emulator.endpoint,
        aws_service_endpoints=emulator.service_endpoints,
        event_bus_name=seed.event_bus,
        member_role_name=role,
        response={"deactivate_after": "0s"},
    )
    emulator.enforce_iam(True)
    try:
        responder = build_responder(settings, own_credentials=ours)
        results = responder.advance_all(responder.record_report(scan_targets([str(tmp_path / "leak.env")])))
        with responder.store.session() as s:
            [e] = s.query(Exposure).all()
            exposure_id, state, reason = e.id, e.state, e.state_reason
        released = None
        if state == "notified":
            released = responder.act(
                exposure_id, "release", "least-privilege-test", "checking release rights"
            )
        return user, results, state, reason, released
    finally:
        emulator.enforce_iam(False)


def test_the_documented_policies_are_enough_for_the_whole_response(world, tmp_path: Path) -> None:
    user, results, state, reason, released = run(world, tmp_path, drop=None)
    steps = [(r.step, r.to_state, r.error) for r in results]
    assert state == "notified", (reason, steps)
    assert ("deactivate", "notified", None) in steps
    assert released == "notified"
    _, admin, _ = world
    member = admin.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{user.account_id}:role/OrganizationAccountAccessRole", RoleSessionName="check"
    )["Credentials"]
    iam = admin.client(
        "iam",
        credentials=Credentials(member["AccessKeyId"], member["SecretAccessKey"], member["SessionToken"]),
    )
    keys = iam.list_access_keys(UserName=user.user_name)["AccessKeyMetadata"]
    assert [k["Status"] for k in keys] == ["Inactive"]
    attached = [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user.user_name)["AttachedPolicies"]
    ]
    assert V3 not in attached  # released again, with the documented rights


@pytest.mark.parametrize("missing", ["iam:AttachUserPolicy", "sts:AssumeRole", "events:PutEvents"])
def test_without_one_documented_action_the_response_fails_at_that_step(
    world, tmp_path: Path, missing: str
) -> None:
    _, results, state, reason, _ = run(world, tmp_path, drop=missing)
    if missing == "events:PutEvents":  # the quarantine stands; the announcement waits in the outbox
        assert state == "contained"
        failures = [r.error or "" for r in results if r.step == "notify"]
        assert failures and len(set(failures)) == 1  # tried, and perhaps retried once the backoff passed
        reason = failures[0]
    else:
        assert state == "failed"
    assert "AccessDenied" in (reason or "") or "not authorized" in (reason or "")


def test_the_committed_policies_are_the_ones_the_code_declares() -> None:
    """docs/iam/ is generated from the permissions each step, port and the authority declare: a call
    added without its permission (or a permission no call needs) shows here first."""
    from keysentry.app.iam_policy import documents

    for name, document in documents().items():
        committed = json.loads((DOCS / name).read_text())
        assert committed == document, f"regenerate: python -m keysentry.app.iam_policy docs/iam ({name})"
