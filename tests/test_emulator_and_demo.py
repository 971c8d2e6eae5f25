"""The emulator command, and the demo end to end, including the search for the planted secret."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import boto3

from helpers import KEYSENTRY
from keysentry.emulator.receivers import free_port


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_emulator_command_seeds_the_demo_organization_and_stops_cleanly(tmp_path: Path) -> None:
    manifest = tmp_path / "seed.json"
    trail_port = free_port()
    proc = subprocess.Popen(
        [
            KEYSENTRY,
            "emulator",
            "--seed",
            "demo",
            "--manifest",
            str(manifest),
            "--cloudtrail-port",
            str(trail_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(lines)
        endpoint = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", text)
        assert endpoint, text
        port = int(endpoint.group(2))
        # The CloudTrail event history is on the port asked for, and the printed settings point there.
        assert f"CloudTrail event history (LookupEvents) on http://127.0.0.1:{trail_port}" in text
        assert f'"cloudtrail": "http://127.0.0.1:{trail_port}"' in text
        assert port_open(trail_port)
        seed = json.loads(manifest.read_text())
        assert manifest.stat().st_mode & 0o777 == 0o600
        for user in seed["users"]:
            assert user["access_key_id"] in text and user["secret_access_key"] not in text

        org = client("organizations", endpoint.group(1))
        accounts = {a["Id"] for a in org.list_accounts()["Accounts"]}
        assert accounts == set(seed["accounts"]) and len(accounts) == 3
        account = client("account", endpoint.group(1))
        contact = account.get_alternate_contact(AlternateContactType="SECURITY")["AlternateContact"]
        assert contact["EmailAddress"] == seed["security_contacts"][seed["management_account"]]
        iam = client("iam", endpoint.group(1))
        policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3")["Policy"]
        assert policy["PolicyName"] == "AWSCompromisedKeyQuarantineV3"  # AWS managed policies are loaded
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert not port_open(port), "the emulator outlived its command"


def test_demo_contains_the_leak_proves_it_and_never_reveals_the_secret(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    env = dict(os.environ, COLUMNS="200")
    done = subprocess.run(
        [KEYSENTRY, "demo", "--keep", str(keep)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output

    leaked_env = (keep / "payments-service" / "config" / "deploy.env").read_text()
    key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", leaked_env).group(1)  # type: ignore[union-attr]
    secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", leaked_env).group(1)  # type: ignore[union-attr]

    # What a user sees: the exposure, where it came from, the policy, and the proof.
    contained = "contained: AWSCompromisedKeyQuarantineV3 attached"
    assert f"Exposure #1  {key_id}\n  outcome       {contained}" in output
    assert "  state         notified" in output
    assert "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3" in output
    assert "config/deploy.env:3" in output and "Dana Developer" in output
    assert re.search(r"✓ iam:CreateUser\s+denied", output)
    assert re.search(r"✓ ec2:RunInstances\s+denied", output)
    assert re.search(r"✓ ec2:DescribeInstances\s+allowed", output)
    assert re.search(r"AKIAIOSFODNN7EXAMPLE\n  outcome +not acted on: a documentation example", output)
    assert "quarantine attached 1 time(s)" in output
    # Every channel's receiver got one message about the key.
    for channel in (
        "email (SMTP)",
        "webhook (signed JSON)",
        "Slack",
        "PagerDuty",
        "SNS (HTTP subscriber)",
        "case",
    ):
        assert re.search(rf"{re.escape(channel)}\s+x1 ", output), channel
    assert "to security+workloads-prod@example.com" in output and "signature valid" in output
    # The service: the partner POST is labelled, the key contained and told, the dashboard page shown.
    assert re.search(r'secret-scanning \(signed as GitHub\) → 200 .*"label": "true_positive"', output)
    served = re.search(r"exposure #(\d+) notified: detected .*, contained .*, notified ", output)
    assert served, output
    assert f"Exposure #{served.group(1)} AKIA" in output and "│ webhook:soc sent 1" in output
    port = int(re.search(r"moto on http://127\.0\.0\.1:(\d+)", output).group(1))  # type: ignore[union-attr]
    assert not port_open(port), "the demo left its emulator running"

    # The secret is nowhere but in the leaked file itself.
    assert secret not in output
    searched = [p for p in keep.rglob("*") if p.is_file() and "payments-service" not in p.parts]
    assert {p.name for p in searched} >= {"keysentry.db", "keysentry.log", "emulator.log"}
    for path in searched:
        assert secret.encode() not in path.read_bytes(), f"secret found in {path}"
        assert secret.encode().hex().encode() not in path.read_bytes()


def test_the_emulators_iam_answers_as_moto_does_for_policies_and_keys(
    admin_clients, seeded, new_user
) -> None:  # type: ignore[no-untyped-def]
    """The emulator looks managed policies and keys up directly (emulator/process.py); the answers and
    the errors are IAM's as moto gives them."""
    from botocore.exceptions import ClientError

    from conftest import member_credentials

    quarantine = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
    user = new_user("workloads-prod")
    iam = admin_clients.client("iam", credentials=member_credentials(admin_clients, user.account_id))
    management_iam = admin_clients.client("iam")

    def error_of(call, **kw) -> str:  # type: ignore[no-untyped-def]
        try:
            call(**kw)
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "none"

    used = iam.get_access_key_last_used(AccessKeyId=user.access_key_id)
    assert used["UserName"] == user.user_name
    # moto answers for a key of another account too (it searches every account), as it always did.
    assert (
        management_iam.get_access_key_last_used(AccessKeyId=user.access_key_id)["UserName"] == user.user_name
    )
    assert error_of(iam.get_access_key_last_used, AccessKeyId="AKIAV2SDG4JEXAMPLE00") == "NoSuchEntity"

    iam.attach_user_policy(UserName=user.user_name, PolicyArn=quarantine)
    iam.attach_user_policy(UserName=user.user_name, PolicyArn=quarantine)  # attached once, as in IAM
    attached = iam.list_attached_user_policies(UserName=user.user_name)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached].count(quarantine) == 1
    unknown = "arn:aws:iam::aws:policy/NoSuchPolicy"
    assert error_of(iam.attach_user_policy, UserName=user.user_name, PolicyArn=unknown) == "NoSuchEntity"
    assert error_of(iam.attach_user_policy, UserName="nobody", PolicyArn=quarantine) == "NoSuchEntity"
    iam.detach_user_policy(UserName=user.user_name, PolicyArn=quarantine)
    assert error_of(iam.detach_user_policy, UserName=user.user_name, PolicyArn=quarantine) == "NoSuchEntity"
    assert error_of(iam.detach_user_policy, UserName=user.user_name, PolicyArn=unknown) == "NoSuchEntity"
