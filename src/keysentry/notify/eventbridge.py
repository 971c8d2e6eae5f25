"""Health-compatible events on an EventBridge bus, under our own source, ten to a PutEvents call: on the
bus of the same name in each affected account (the default, through the member role), or on the central
bus of keysentry's own account.

In the affected account EventBridge sets the event's top-level ``account`` to that account, as AWS
Health's own RISK events have it, so automation written for them (aws-health-tools) works unchanged.
Where the member role cannot be assumed or may not put events there, or that account has no bus of that
name, the event goes on the central bus instead, and its receipt says where and why: never dropped."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from keysentry.authority.boundary import AwsCallError
from keysentry.authority.ports import EventBus
from keysentry.errors import AuthorityError
from keysentry.notify.channel import Sent
from keysentry.notify.health_event import (
    CREDENTIAL_DETAIL_TYPE,
    DETAIL_TYPE,
    ExposureFacts,
    credential_event_detail,
    health_event_detail,
    stamp_notified,
)

# What the affected account answers when the event cannot be put there at all (as opposed to a failure
# worth retrying there): the role cannot be assumed, may not put events, or the bus does not exist.
NOT_THERE = frozenset({"AccessDenied", "AccessDeniedException", "ResourceNotFoundException"})


def resources(facts: ExposureFacts) -> list[str]:
    """The event's ``resources``: the key, and the principal's ARN, which names the affected account.

    EventBridge sets the top-level ``account`` to the account of the bus the event is put on: on the
    central bus that is keysentry's account, not the affected one.  A consumer there reads
    ``detail.eventMetadata.accountId`` (also ``detail.affectedAccount``), or the account in this ARN."""
    found = [facts.key_id]
    if facts.principal_arn:
        found.append(facts.principal_arn)
    return found


class EventBridgeChannel:
    name = "eventbridge"
    batch_size = 10  # the most entries PutEvents takes in one call

    def __init__(self, bus: EventBus, in_affected_account: bool = False) -> None:
        self.bus = bus
        self.in_affected_account = in_affected_account

    def render(self, facts: ExposureFacts, now: datetime) -> dict[str, Any]:
        if not facts.aws:  # no AWS account to put it in, and no Health event: the central bus
            return {
                "resources": [facts.key_id],
                "account_id": "",
                "detail_type": CREDENTIAL_DETAIL_TYPE,
                "detail": credential_event_detail(facts, now),
            }
        return {
            "resources": resources(facts),
            "account_id": facts.account_id,
            "detail": health_event_detail(facts, now),
        }

    def send(self, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]:
        if not self.in_affected_account:
            return self._put(None, payloads, now)
        answers: dict[int, Sent] = {}
        by_account: dict[str, list[int]] = {}
        for n, payload in enumerate(payloads):
            by_account.setdefault(payload["account_id"], []).append(n)
        for account, indexes in by_account.items():
            put = self._put(account or None, [payloads[n] for n in indexes], now)
            for n, sent in zip(indexes, put, strict=True):
                answers[n] = sent
        return [answers[n] for n in range(len(payloads))]

    def _put(self, account_id: str | None, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]:
        """Put the events on the bus of ``account_id`` (None: the central bus).  A call that fails is
        retried later; where the affected account cannot take them at all, they go on the central bus."""
        entries = [
            {
                "Time": now,
                "Source": self.bus.source,
                "DetailType": payload.get("detail_type", DETAIL_TYPE),
                "Resources": payload["resources"],
                "Detail": json.dumps(stamp_notified(payload["detail"], now)),
                "EventBusName": self.bus.bus_name,
            }
            for payload in payloads
        ]
        where = f"on {self.bus.bus_name} in {account_id}" if account_id else f"on central {self.bus.bus_name}"
        try:
            results = self.bus.put_events(entries, account_id)
        except AwsCallError as exc:
            if account_id is None or exc.code not in NOT_THERE:
                return [Sent(False, error=str(exc)) for _ in payloads]
            where = f"on central {self.bus.bus_name}, not in {account_id} ({exc.code})"
            try:
                results = self.bus.put_events(entries, None)
            except AuthorityError as central:
                return [Sent(False, error=f"{exc}; then {central}") for _ in payloads]
        except AuthorityError as exc:
            return [Sent(False, error=str(exc)) for _ in payloads]
        return [
            Sent(True, receipt=f"{r['EventId']} {where}"[:256])
            if "EventId" in r and not r.get("ErrorCode")
            else Sent(
                False, error=f"events:PutEvents refused it: {r.get('ErrorCode')} {r.get('ErrorMessage')}"
            )
            for r in results
        ] + [Sent(False, error="events:PutEvents answered for fewer entries than sent")] * (
            len(payloads) - len(results)
        )
