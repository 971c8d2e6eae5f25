"""Health-compatible events on an EventBridge bus, under our own source, ten to a PutEvents call."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keysentry.authority.clients import AwsClients
from keysentry.notify.channel import Sent
from keysentry.notify.health_event import DETAIL_TYPE, ExposureFacts, health_event_detail, stamp_notified


class EventBridgeChannel:
    name = "eventbridge"
    batch_size = 10  # the most entries PutEvents takes in one call

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.settings = clients.settings

    def render(self, facts: ExposureFacts, now: datetime) -> dict[str, Any]:
        return {"resources": [facts.key_id], "detail": health_event_detail(facts, now)}

    def send(self, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]:
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
            answer = self.clients.client("events").put_events(Entries=entries)
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
