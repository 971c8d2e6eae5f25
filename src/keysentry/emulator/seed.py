"""The demo world: an organization with a management account and two member accounts.

Each account gets IAM users with access keys and a SECURITY alternate
contact; the management account also gets keysentry's own responder user, an
SNS topic, and an EventBridge bus whose rule (the pattern Health automation
uses, with our source) delivers to an SQS queue.

Every key here is an emulator fake.  The manifest holds their secrets so that a
demo can plant a leak; it is written with mode 0600 and never printed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from keysentry.authority.clients import AwsClients, Credentials
from keysentry.notify.health_event import risk_event_pattern

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
MEMBER_ACCOUNTS = ("workloads-prod", "workloads-dev")
USERS = {  # account name ("management": the management account, whatever its name) -> users with a key
    "management": ("billing-export",),
    "workloads-prod": ("deploy-bot", "data-pipeline"),
    "workloads-dev": ("ci-runner",),
}
RESPONDER_USER = "keysentry-responder"
BUS_NAME = "keysentry-security"
RULE_NAME = "keysentry-risk-events"
QUEUE_NAME = "keysentry-risk-events"
TOPIC_NAME = "keysentry-alerts"


@dataclass
class SeededUser:
    account_id: str
    account_name: str
    user_name: str
    arn: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass
class SeedManifest:
    endpoint: str
    region: str
    organization_id: str
    management_account: str
    accounts: dict[str, str]  # id -> name
    responder: SeededUser
    users: list[SeededUser]
    event_bus: str
    event_rule: str
    queue_url: str
    topic_arn: str
    security_contacts: dict[str, str]  # account id -> email

    def user(self, account_name: str, user_name: str) -> SeededUser:
        for u in self.users:
            if u.account_name == account_name and u.user_name == user_name:
                return u
        raise KeyError(f"{account_name}/{user_name}")

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=2)

    @classmethod
    def load(cls, path: Path) -> SeedManifest:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        data["responder"] = SeededUser(**data["responder"])
        data["users"] = [SeededUser(**u) for u in data["users"]]
        return cls(**data)


def _make_user(iam: Any, account_id: str, account_name: str, user_name: str) -> SeededUser:
    arn = iam.create_user(UserName=user_name, Tags=[{"Key": "team", "Value": account_name}])["User"]["Arn"]
    iam.attach_user_policy(UserName=user_name, PolicyArn=ADMIN)
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    return SeededUser(account_id, account_name, user_name, arn, key["AccessKeyId"], key["SecretAccessKey"])


def _contact(clients: AwsClients, creds: Credentials | None, account_id: str, account_name: str) -> str:
    email = f"security+{account_name}@example.com"
    clients.client("account", credentials=creds).put_alternate_contact(
        AlternateContactType="SECURITY",
        EmailAddress=email,
        Name=f"{account_name} security",
        PhoneNumber="+1-555-0100",
        Title="Security on-call",
    )
    return email


def seed_demo(clients: AwsClients, endpoint: str, event_source: str = "keysentry") -> SeedManifest:
    """Create the demo organization in an empty emulator (IAM enforcement must be off)."""
    region = clients.settings.aws_region
    org = clients.client("organizations")
    organization_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    sts = clients.client("sts")
    management = sts.get_caller_identity()["Account"]
    # The name Organizations gives the management account (the emulator's is "master"), as keysentry
    # reads it: the manifest says what the dashboard will show.
    management_name = org.describe_account(AccountId=management)["Account"]["Name"]
    accounts = {management: management_name}
    member_creds: dict[str, Credentials | None] = {management: None}
    for name in MEMBER_ACCOUNTS:
        status = org.create_account(AccountName=name, Email=f"aws+{name}@example.com")["CreateAccountStatus"]
        account_id = status["AccountId"]
        accounts[account_id] = name
        assumed = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="seed"
        )["Credentials"]
        creds = Credentials(assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
        member_creds[account_id] = creds
        # AWS gives this role administrator rights in a new member account; the emulator does not.
        clients.client("iam", credentials=creds).attach_role_policy(
            RoleName="OrganizationAccountAccessRole", PolicyArn=ADMIN
        )

    iam = clients.client("iam")
    iam.create_user(UserName=RESPONDER_USER)
    iam.attach_user_policy(UserName=RESPONDER_USER, PolicyArn=ADMIN)
    key = iam.create_access_key(UserName=RESPONDER_USER)["AccessKey"]
    responder = SeededUser(
        management,
        management_name,
        RESPONDER_USER,
        iam.get_user(UserName=RESPONDER_USER)["User"]["Arn"],
        key["AccessKeyId"],
        key["SecretAccessKey"],
    )

    users: list[SeededUser] = []
    contacts: dict[str, str] = {}
    for account_id, name in accounts.items():
        account_creds = member_creds[account_id]
        account_iam = clients.client("iam", credentials=account_creds)
        role = "management" if account_id == management else name
        users.extend(_make_user(account_iam, account_id, name, user) for user in USERS[role])
        contacts[account_id] = _contact(clients, account_creds, account_id, name)

    topic_arn = clients.client("sns").create_topic(Name=TOPIC_NAME)["TopicArn"]
    sqs = clients.client("sqs")
    queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = clients.client("events")
    events.create_event_bus(Name=BUS_NAME)
    events.put_rule(
        Name=RULE_NAME,
        EventBusName=BUS_NAME,
        EventPattern=json.dumps(risk_event_pattern(event_source)),
        State="ENABLED",
    )
    events.put_targets(Rule=RULE_NAME, EventBusName=BUS_NAME, Targets=[{"Id": "queue", "Arn": queue_arn}])

    return SeedManifest(
        endpoint=endpoint,
        region=region,
        organization_id=organization_id,
        management_account=management,
        accounts=accounts,
        responder=responder,
        users=users,
        event_bus=BUS_NAME,
        event_rule=RULE_NAME,
        queue_url=queue_url,
        topic_arn=topic_arn,
        security_contacts=contacts,
    )
