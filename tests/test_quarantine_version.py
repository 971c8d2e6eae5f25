"""AWS publishes new versions of its quarantine policy (V4 on 2026-11-06): containment uses the newest
the partition offers, found once per account, unless the settings pin one."""

from __future__ import annotations

from pathlib import Path

from helpers import env_pair, exposure_of, respond
from keysentry.authority.clients import AwsClients
from keysentry.config.settings import Settings
from keysentry.emulator.seed import SeededUser, seed_demo
from keysentry.emulator.server import Emulator
from keysentry.respond.policies import quarantine_policy

V3, V4 = "AWSCompromisedKeyQuarantineV3", "AWSCompromisedKeyQuarantineV4"


def test_the_newest_version_is_attached_and_a_pinned_one_is_honoured(tmp_path: Path) -> None:
    with Emulator(log_path=tmp_path / "emulator.log") as emulator:
        base = Settings(aws_endpoint_url=emulator.endpoint, aws_service_endpoints=emulator.service_endpoints)
        admin = AwsClients(base)
        seed = seed_demo(admin, emulator.endpoint, base.event_source)
        bundled = quarantine_policy().document
        newer = {
            **bundled,
            "Statement": [
                *bundled["Statement"],
                {"Effect": "Deny", "Action": ["bedrock:*"], "Resource": "*"},
            ],
        }
        emulator.publish_aws_managed_policy(V4, newer)  # as AWS does: every account sees it
        iam = admin.client("iam")

        def user(name: str) -> SeededUser:
            arn = iam.create_user(UserName=name)["User"]["Arn"]
            key = iam.create_access_key(UserName=name)["AccessKey"]
            account = seed.management_account
            return SeededUser(account, "management", name, arn, key["AccessKeyId"], key["SecretAccessKey"])

        def attached(name: str) -> list[str]:
            return [
                p["PolicyName"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
            ]

        settings = base.model_copy(
            update={"data_dir": tmp_path, "event_bus_name": seed.event_bus, "investigation_delays": []}
        )
        newest = user("deploy-newest")
        (tmp_path / "a.env").write_text(env_pair(newest))
        responder, _ = respond(settings, tmp_path / "a.env")
        assert attached(newest.user_name) == [V4]
        containment = exposure_of(responder, newest.access_key_id).containment
        assert containment["policy_name"] == V4 and containment["policy_kind"] == "aws-managed"

        pinned = user("deploy-pinned")
        (tmp_path / "b.env").write_text(env_pair(pinned))
        responder, _ = respond(settings.model_copy(update={"quarantine_policy_name": V3}), tmp_path / "b.env")
        assert attached(pinned.user_name) == [V3]
        assert exposure_of(responder, pinned.access_key_id).containment["policy_name"] == V3
