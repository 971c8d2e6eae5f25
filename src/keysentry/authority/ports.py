"""Narrow doors to AWS for the rooms that are not the authority: the channels (put events, publish, send
email, open a support case) and the investigation (read CloudTrail).  Each door makes one kind of call
through :func:`~keysentry.authority.boundary.aws_call`, so a failure reaches the caller as an
:class:`~keysentry.authority.boundary.AwsCallError` (an ``AuthorityError``) with AWS's error code, and
no botocore exception leaves this package."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from keysentry.authority.aws import AwsAuthority
from keysentry.authority.boundary import aws_call
from keysentry.authority.cloudtrail import events_from_lookup, events_from_s3
from keysentry.authority.permissions import Permission


class EventBus:
    """EventBridge ``PutEvents`` on the bus named in the settings: in our account, or in the affected one."""

    PERMISSIONS = (
        Permission(
            # In the affected account too: the event goes on its own bus by default.
            "Announce",
            ("events:PutEvents",),
            ("arn:aws:events:*:*:event-bus/*",),
        ),
    )

    def __init__(self, authority: AwsAuthority) -> None:
        self.authority = authority
        self.bus_name = authority.settings.event_bus_name
        self.source = authority.settings.event_source

    def put_events(
        self, entries: list[dict[str, Any]], account_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The answer's ``Entries``, one per entry sent (fewer if EventBridge answered for fewer)."""
        where = f" in {account_id}" if account_id else ""
        with aws_call(f"events:PutEvents to {self.bus_name}{where}"):
            events = (
                self.authority.client_in(account_id, "events")
                if account_id
                else self.authority.clients.client("events")
            )
            return list(events.put_events(Entries=entries).get("Entries", []))


class Topics:
    """SNS ``PublishBatch``."""

    PERMISSIONS = (
        Permission(
            "NotifyOnSnsTopics", ("sns:Publish",), ("arn:aws:sns:*:*:YOUR-TOPIC",), in_every_account=False
        ),
    )

    def __init__(self, authority: AwsAuthority) -> None:
        self.authority = authority

    def publish_batch(self, topic_arn: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        with aws_call(f"sns:PublishBatch to {topic_arn}"):
            answer = self.authority.clients.client("sns").publish_batch(
                TopicArn=topic_arn, PublishBatchRequestEntries=entries
            )
        return dict(answer)


class Mail:
    """Who an account's security contact is (Account ``GetAlternateContact``), and SES ``SendRawEmail``."""

    PERMISSIONS = (
        Permission("EmailTheSecurityContact", ("account:GetAlternateContact",)),
        Permission("NotifyByEmailThroughSes", ("ses:SendRawEmail",), in_every_account=False),
    )

    def __init__(self, authority: AwsAuthority) -> None:
        self.authority = authority

    def security_contact(self, account_id: str) -> str | None:
        with aws_call(f"account:GetAlternateContact SECURITY of {account_id}"):
            answer = self.authority.client_in(account_id, "account").get_alternate_contact(
                AlternateContactType="SECURITY"
            )
        address = answer.get("AlternateContact", {}).get("EmailAddress")
        return str(address) if address else None

    def send_raw_email(self, source: str, raw: bytes, to: str) -> str:
        """The message ID SES gave.  No Destinations: SES sends to the message's own To header."""
        with aws_call(f"ses:SendRawEmail to {to}"):
            answer = self.authority.clients.client("ses").send_raw_email(
                Source=source, RawMessage={"Data": raw}
            )
        return str(answer.get("MessageId"))


class Support:
    """AWS Support ``CreateCase`` (the Support API lives in us-east-1)."""

    PERMISSIONS = (Permission("OptionalAwsSupportCase", ("support:CreateCase",), in_every_account=False),)

    def __init__(self, authority: AwsAuthority) -> None:
        self.authority = authority

    def create_case(self, subject: str, body: str, severity: str) -> str:
        with aws_call("support:CreateCase"):
            answer = self.authority.clients.client("support", region="us-east-1").create_case(
                subject=subject,
                communicationBody=body,
                severityCode=severity,
                issueType="technical",
                serviceCode="amazon-identity-and-access-management",
                categoryCode="security",
                language="en",
            )
        return str(answer.get("caseId"))


class Trails:
    """What CloudTrail recorded of a key: event history per region, and a trail's log files in S3."""

    PERMISSIONS = (
        Permission("AttributeKeysOfThisAccount", ("cloudtrail:LookupEvents", "ec2:DescribeRegions")),
        Permission(
            "ReadTheOrganizationTrail",
            ("s3:ListBucket", "s3:GetObject"),
            ("arn:aws:s3:::YOUR-TRAIL-BUCKET", "arn:aws:s3:::YOUR-TRAIL-BUCKET/*"),
            in_every_account=False,
        ),
    )

    def __init__(self, authority: AwsAuthority) -> None:
        self.authority = authority

    def regions(self, account_id: str) -> list[str]:
        return self.authority.enabled_regions(account_id)

    def key_events(
        self, account_id: str, region: str, key_id: str, start: datetime
    ) -> Iterator[dict[str, Any]]:
        client = self.authority.client_in(account_id, "cloudtrail", region)
        return events_from_lookup(client, key_id, start=start)

    def trail_records(
        self,
        bucket: str,
        prefix: str,
        account_id: str,
        regions: list[str],
        key_id: str,
        start: datetime,
        end: datetime,
    ) -> Iterator[dict[str, Any]]:
        s3 = self.authority.clients.client("s3")
        return events_from_s3(s3, bucket, prefix, account_id, regions, key_id, start, end)
