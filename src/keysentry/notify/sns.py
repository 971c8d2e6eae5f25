"""SNS: one topic per channel, ten messages to a PublishBatch call, with message attributes (account,
severity, key type, state) that subscription filter policies can select on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from keysentry.authority.boundary import AwsCallError
from keysentry.authority.ports import Topics
from keysentry.notify.channel import Sent
from keysentry.notify.health_event import ExposureFacts
from keysentry.notify.message import context, render, subject

PERMANENT = frozenset({"NotFound", "InvalidParameter", "InvalidParameterValue", "AuthorizationError"})


class SnsChannel:
    batch_size = 10  # PublishBatch takes ten entries

    def __init__(self, topics: Topics, topic_arn: str) -> None:
        self.topics = topics
        self.topic_arn = topic_arn
        self.name = f"sns:{topic_arn.rsplit(':', 1)[-1]}"
        self.fifo = topic_arn.endswith(".fifo")

    def render(self, facts: ExposureFacts, now: datetime) -> dict[str, Any]:
        return {
            "subject": subject(facts)[:100],  # SNS allows 100 characters
            "message": render("email.txt.j2", context(facts, now)),
            "group": facts.account_id or facts.credential_type,
            "dedup": facts.notification_id,
            "attributes": {  # SNS refuses an empty attribute value: "none" where there is no account
                "account": facts.account_id or "none",
                "severity": facts.severity,
                "key_type": facts.credential_type,
                "principal_type": facts.principal_type or "unknown",
                "state": facts.state,
            },
        }

    def send(self, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]:
        entries = []
        for n, p in enumerate(payloads):
            entry: dict[str, Any] = {
                "Id": str(n),
                "Subject": p["subject"],
                "Message": p["message"],
                "MessageAttributes": {
                    k: {"DataType": "String", "StringValue": v} for k, v in p["attributes"].items()
                },
            }
            if self.fifo:  # FIFO topics drop a repeat of the same deduplication ID for five minutes
                entry.update(MessageGroupId=p["group"], MessageDeduplicationId=p["dedup"])
            entries.append(entry)
        try:
            answer = self.topics.publish_batch(self.topic_arn, entries)
        except AwsCallError as exc:
            return [Sent(False, error=str(exc), permanent=exc.code in PERMANENT) for _ in payloads]
        done = {s["Id"]: Sent(True, receipt=s["MessageId"]) for s in answer.get("Successful", [])}
        for f in answer.get("Failed", []):
            error = f"SNS refused it: {f.get('Code')} {f.get('Message')}"
            done[f["Id"]] = Sent(False, error=error, permanent=bool(f.get("SenderFault")))
        return [
            done.get(str(n), Sent(False, error="SNS did not answer for it")) for n in range(len(payloads))
        ]
