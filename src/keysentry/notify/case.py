"""The exposure's case: a Markdown write-up kept with the exposure (what the dashboard and the API show
beside its timeline and the messages sent), and optionally an AWS Support case (``CreateCase``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keysentry.authority.clients import AwsClients
from keysentry.notify.channel import Sent
from keysentry.notify.health_event import ExposureFacts
from keysentry.notify.message import context, render, subject

SUPPORT_SEVERITY = {"critical": "urgent", "high": "high", "medium": "normal", "low": "low"}


class CaseChannel:
    name = "case"
    batch_size = 10

    def __init__(self, clients: AwsClients, aws_support: bool = False) -> None:
        self.clients = clients
        self.aws_support = aws_support

    def render(self, facts: ExposureFacts, now: datetime) -> dict[str, Any]:
        return {
            "title": subject(facts),
            "markdown": render("case.md.j2", context(facts, now)),
            "severity": facts.severity,
        }

    def send(self, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]:
        if not self.aws_support:  # kept in keysentry: the outbox row is the case's record
            return [Sent(True, receipt="keysentry") for _ in payloads]
        return [self._support_case(p) for p in payloads]

    def _support_case(self, payload: dict[str, Any]) -> Sent:
        try:
            answer = self.clients.client("support", region="us-east-1").create_case(
                subject=payload["title"][:250],
                communicationBody=payload["markdown"],
                severityCode=SUPPORT_SEVERITY.get(payload["severity"], "high"),
                issueType="technical",
                serviceCode="amazon-identity-and-access-management",
                categoryCode="security",
                language="en",
            )
        except (ClientError, BotoCoreError) as exc:
            return Sent(False, error=f"support:CreateCase failed: {exc}")
        return Sent(True, receipt=str(answer.get("caseId")))
