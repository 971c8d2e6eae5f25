"""The exposure's case: a Markdown write-up kept with the exposure (what the dashboard and the API show
beside its timeline and the messages sent), and optionally an AWS Support case (``CreateCase``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from keysentry.authority.ports import Support
from keysentry.errors import AuthorityError
from keysentry.notify.channel import Sent
from keysentry.notify.health_event import ExposureFacts
from keysentry.notify.message import context, render, subject

SUPPORT_SEVERITY = {"critical": "urgent", "high": "high", "medium": "normal", "low": "low"}


class CaseChannel:
    name = "case"
    batch_size = 10

    def __init__(self, support: Support | None, aws_support: bool = False) -> None:
        self.support = support
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
        assert self.support is not None
        try:
            case_id = self.support.create_case(
                payload["title"][:250],
                payload["markdown"],
                SUPPORT_SEVERITY.get(payload["severity"], "high"),
            )
        except AuthorityError as exc:
            return Sent(False, error=str(exc))
        return Sent(True, receipt=case_id)
