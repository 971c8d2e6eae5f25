"""Health-compatible events on an EventBridge bus, under our own source, ten to a PutEvents call: on the
central bus of keysentry's own account, or on the bus of the same name in each affected account."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keysentry.authority.aws import AwsAuthority
from keysentry.notify.channel import Sent
from keysentry.notify.health_event import DETAIL_TYPE, ExposureFacts, health_event_detail, stamp_notified


def resources(facts: ExposureFacts) -> list[str]:
    """The event's ``resources``: the key, and the principal's ARN, which names the affected account.

    EventBridge sets the top-level ``account`` to the account of the bus the event is put on: on the
    central bus (the default) that is keysentry's account, not the affected one.  A consumer there reads
    ``detail.eventMetadata.accountId`` (also ``detail.affectedAccount``), or the account in this ARN."""
    found = [facts.key_id]
    if facts.principal_arn:
        found.append(facts.principal_arn)
    return found


class EventBridgeChannel:
    name = "eventbridge"
    batch_size = 10  # the most entries PutEvents takes in one call

    def __init__(self, authority: AwsAuthority, in_affected_account: bool = False) -> None:
        self.authority = authority
        self.settings = authority.clients.settings
        self.in_affected_account = in_affected_account

    def render(self, facts: ExposureFacts, now: datetime) -> dict[str, Any]:
        return {
            "resources": resources(facts),
            "account_id": facts.account_id,
            "detail": health_event_detail(facts, now),
        }

    def send(self, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]:
        if not self.in_affected_account:
            return self._put(self.authority.clients.client("events"), payloads, now)
        answers: dict[int, Sent] = {}
        by_account: dict[str, list[int]] = {}
        for n, payload in enumerate(payloads):
            by_account.setdefault(payload["account_id"], []).append(n)
        for account, indexes in by_account.items():
            try:
                events = self.authority.client_in(account, "events")
            except Exception as exc:  # the member role could not be assumed: retry later
                for n in indexes:
                    answers[n] = Sent(False, error=f"cannot act in {account} to put the event: {exc}")
                continue
            for n, sent in zip(indexes, self._put(events, [payloads[n] for n in indexes], now), strict=True):
                answers[n] = sent
        return [answers[n] for n in range(len(payloads))]

    def _put(self, events: Any, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]:
        entries = [
            {
                "Time": now,
                "Source": self.settings.event_source,
                "DetailType": DETAIL_TYPE,
                "Resources": payload["resources"],
                "Detail": json.dumps(stamp_notified(payload["detail"], now)),
                "EventBusName": self.settings.event_bus_name,
            }
            for payload in payloads
        ]
        try:
            answer = events.put_events(Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            error = f"events:PutEvents to {self.settings.event_bus_name} failed: {exc}"
            return [Sent(False, error=error) for _ in payloads]
        results = answer.get("Entries", [])
        return [
            Sent(True, receipt=str(r["EventId"]))
            if "EventId" in r and not r.get("ErrorCode")
            else Sent(
                False, error=f"events:PutEvents refused it: {r.get('ErrorCode')} {r.get('ErrorMessage')}"
            )
            for r in results
        ] + [Sent(False, error="events:PutEvents answered for fewer entries than sent")] * (
            len(payloads) - len(results)
        )
