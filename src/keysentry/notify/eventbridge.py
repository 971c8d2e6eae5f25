"""Publish Health-compatible events to an EventBridge bus under our own source."""

from __future__ import annotations

import json
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from keysentry.authority.clients import AwsClients
from keysentry.errors import AuthorityError
from keysentry.notify.health_event import DETAIL_TYPE, ExposureFacts, health_event_detail


class EventBridgePublisher:
    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.settings = clients.settings

    def publish(self, facts: ExposureFacts, now: datetime) -> str:
        """Put one event on the configured bus; returns EventBridge's event ID."""
        entry = {
            "Time": now,
            "Source": self.settings.event_source,
            "DetailType": DETAIL_TYPE,
            "Resources": [facts.key_id],
            "Detail": json.dumps(health_event_detail(facts, now)),
            "EventBusName": self.settings.event_bus_name,
        }
        try:
            answer = self.clients.client("events").put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as exc:
            raise AuthorityError(f"events:PutEvents to {self.settings.event_bus_name} failed: {exc}") from exc
        result = answer["Entries"][0]
        if answer.get("FailedEntryCount") or "EventId" not in result:
            raise AuthorityError(
                f"events:PutEvents refused the event: {result.get('ErrorCode')} {result.get('ErrorMessage')}"
            )
        return str(result["EventId"])
