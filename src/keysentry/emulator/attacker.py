"""The demo's attacker: calls signed with the leaked key, to show what the quarantine blocks and what it
leaves running."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from keysentry.authority.clients import AwsClients, Credentials
from keysentry.emulator.seed import SeededUser


@dataclass
class Proof:
    action: str
    expected: str
    observed: str

    @property
    def holds(self) -> bool:
        return self.expected == self.observed


def _outcome(call: Any) -> str:
    try:
        call()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return (
            "denied" if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation") else code
        )
    return "allowed"


def prove_quarantine(clients: AwsClients, leaked: SeededUser) -> list[Proof]:
    creds = Credentials(leaked.access_key_id, leaked.secret_access_key)
    iam = clients.client("iam", credentials=creds)
    ec2 = clients.client("ec2", credentials=creds)
    return [
        Proof("iam:CreateUser", "denied", _outcome(lambda: iam.create_user(UserName="attacker-backdoor"))),
        Proof(
            "ec2:RunInstances",
            "denied",
            _outcome(
                lambda: ec2.run_instances(
                    ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro"
                )
            ),
        ),
        Proof("ec2:DescribeInstances", "allowed", _outcome(ec2.describe_instances)),
    ]
